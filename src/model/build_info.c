/* build_info.c - versions of the library and what it links. */
#include "deepconf/dc_build_info.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>

#include "deepconf/dc_version.h"

#ifdef SDC_HAVE_LLAMA
#include <llama.h>
#endif

int dc_have_llama(void)
{
#ifdef SDC_HAVE_LLAMA
    return 1;
#else
    return 0;
#endif
}

const char *dc_build_info(void)
{
    static char info[2048];
    if (info[0])
        return info;
#ifdef SDC_HAVE_LLAMA
    const char *llama = llama_print_system_info();
#else
    const char *llama = "not built in (run scripts/setup.sh)";
#endif
    snprintf(info, sizeof info, "safety-deepconf %s\nllama.cpp: %s\nlibcurl: %s\njansson: %s\n",
             dc_version(), llama, curl_version(), jansson_version_str());
    return info;
}
