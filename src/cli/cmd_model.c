/* cmd_model.c - `safety-deepconf model` (being written). */
#include "cli/cli.h"

int cmd_model(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_err("model", "not available in this build yet");
    return CLI_FAIL;
}
