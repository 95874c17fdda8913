/* cmd_refusal.c - `safety-deepconf refusal` (being written). */
#include "cli/cli.h"

int cmd_refusal(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_err("refusal", "not available in this build yet");
    return CLI_FAIL;
}
