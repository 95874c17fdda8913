/* cmd_data.c - `safety-deepconf data` (being written). */
#include "cli/cli.h"

int cmd_data(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_err("data", "not available in this build yet");
    return CLI_FAIL;
}
