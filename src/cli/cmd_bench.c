/* cmd_bench.c - `safety-deepconf bench` (being written). */
#include "cli/cli.h"

int cmd_bench(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_err("bench", "not available in this build yet");
    return CLI_FAIL;
}
