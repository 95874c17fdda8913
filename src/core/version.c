/* version.c - the linked library's version. */
#include "deepconf/dc_version.h"

const char *dc_version(void)
{
    return DC_VERSION_STRING;
}
