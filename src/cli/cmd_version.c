/* cmd_version.c - `safety-deepconf version`. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "deepconf/dc_build_info.h"

int cmd_version(int argc, char **argv)
{
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        printf("usage: safety-deepconf version\n\n"
               "Prints the versions of the program and of the libraries it links\n"
               "(llama.cpp with the CPU features it was built for, libcurl, jansson).\n");
        return CLI_OK;
    }
    if (argc > 1) {
        cli_err("version", "unexpected argument '%s'", argv[1]);
        return CLI_USAGE;
    }
    const char *s = dc_build_info();
    return cli_write_stdout("version", s, strlen(s)) ? CLI_OK : CLI_FAIL;
}
