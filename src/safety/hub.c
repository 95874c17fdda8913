/* hub.c - the table of benchmarks on the Hugging Face Hub, and their pull. */
#include "safety/sdc_hub.h"

#include <stdio.h>
#include <string.h>

#include "util/buf.h"

/* Revisions: a commit id where one was found in public references to the
 * repo (toxic-chat's README at 52abc18 lists the 0124 files; JBB's
 * harmful-behaviors.csv is pinned at 886acc3 by several projects); "main"
 * where none was, as docs/datasets.md says. */
static const sdc_hub_source sources[] = {
    {SDC_BENCHMARK_TOXICCHAT, "lmsys/toxic-chat", "52abc18a505eef8f1ff3795c7d6c389399339b7f",
     "data/0124/toxic-chat_annotation_test.csv", "csv", "toxicchat0124", "test", "CC-BY-NC-4.0", 0,
     ""},
    {SDC_BENCHMARK_HARMBENCH, "walledai/HarmBench", "main", "standard/train-00000-of-00001.parquet",
     "parquet", "standard", "train", "MIT (HarmBench)", 0,
     "standard behaviours only (prompt, category); no BehaviorID"},
    {SDC_BENCHMARK_WILDGUARD, "allenai/wildguardmix", "main", "test/wildguard_test.parquet",
     "parquet", "wildguardtest", "test", "ODC-BY", 1,
     "gated, access granted on accepting AI2's terms on the Hub page"},
    {SDC_BENCHMARK_XSTEST, "natolambert/xstest-v2-copy", "main",
     "data/prompts-00000-of-00001.parquet", "parquet", "default", "prompts", "CC-BY-4.0", 0,
     "no label column: contrast_* types are unsafe, the others safe"},
    {SDC_BENCHMARK_ADVBENCH, "walledai/AdvBench", "main", "data/train-00000-of-00001.parquet",
     "parquet", "default", "train", "MIT (AdvBench)", 0, "harmful behaviours (prompt, target)"},
    {SDC_BENCHMARK_JAILBREAKBENCH, "JailbreakBench/JBB-Behaviors",
     "886acc352a31533ffbcf4ef22c744658688086fc", "data/harmful-behaviors.csv", "csv", "behaviors",
     "harmful", "MIT", 0, ""},
    {SDC_BENCHMARK_STRONGREJECT, "walledai/StrongREJECT", "main",
     "data/train-00000-of-00001.parquet", "parquet", "default", "train", "MIT (StrongREJECT)", 0,
     "prompt, category, source"},
    {SDC_BENCHMARK_REFUSAL_DIRECTION, NULL, "", "", "json", "", "", "", 0,
     "not on the Hub: harmful_*.json / harmless_*.json of the refusal_direction repository on "
     "GitHub; use --data FILE"},
};
#define N_SOURCES (sizeof sources / sizeof sources[0])

const sdc_hub_source *sdc_hub_sources(size_t *n)
{
    *n = N_SOURCES;
    return sources;
}

const sdc_hub_source *sdc_hub_source_find(const char *name)
{
    for (size_t i = 0; i < N_SOURCES; i++)
        if (!strcmp(sdc_benchmark_name(sources[i].benchmark), name))
            return &sources[i];
    return NULL;
}

dc_status sdc_hub_pull(const char *spec, const dc_hf_params *params, dc_hf_result *out,
                       const sdc_hub_source **src, dc_error *err)
{
    memset(out, 0, sizeof *out);
    if (src)
        *src = NULL;
    char name[64];
    const char *at = spec ? strchr(spec, '@') : NULL;
    size_t n = !spec ? 0 : at ? (size_t)(at - spec) : strlen(spec);
    snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : 0), spec ? spec : "");
    const sdc_hub_source *s = name[0] ? sdc_hub_source_find(name) : NULL;
    if (!s) {
        dc_buf known;
        dc_buf_init(&known, 400);
        for (size_t i = 0; i < N_SOURCES; i++)
            dc_buf_printf(&known, "%s%s", i ? ", " : "", sdc_benchmark_name(sources[i].benchmark));
        dc_status st = dc_error_set(err, DC_STATUS_NOT_FOUND,
                                    "unknown benchmark '%s'; known: %s (see 'data list')",
                                    spec ? spec : "", known.data ? known.data : "");
        dc_buf_free(&known);
        return st;
    }
    if (src)
        *src = s;
    if (!s->repo)
        return dc_error_set(err, DC_STATUS_UNSUPPORTED, "%s is not on the Hugging Face Hub: %s",
                            name, s->note);
    if (at && !at[1])
        return dc_error_set(err, DC_STATUS_INVALID_ARG, "'%s': empty revision after '@'", spec);
    dc_hf_params p = params ? *params : dc_hf_default_params();
    p.revision = at ? at + 1 : s->revision;
    dc_status st = dc_hf_pull_file(DC_HF_REPO_DATASET, s->repo, s->path, &p, out, err);
    if (st != DC_STATUS_OK && err) {
        char msg[DC_ERROR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->msg);
        dc_error_set(err, st, "%s (%s@%s, %s): %s", name, s->repo, p.revision, s->path, msg);
    }
    return st;
}
