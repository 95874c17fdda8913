/* loaders.c - benchmark detection and the mapping of rows to instances. */
#include "safety/sdc_dataset.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "safety/rows.h"
#include "util/buf.h"

sdc_load_params sdc_load_default_params(void)
{
    sdc_load_params p;
    memset(&p, 0, sizeof p);
    p.benchmark = SDC_BENCHMARK_AUTO;
    p.max_field_bytes = SDC_MAX_FIELD_BYTES_DEFAULT;
    p.max_file_bytes = SDC_MAX_FILE_BYTES_DEFAULT;
    p.max_rows = SDC_MAX_ROWS_DEFAULT;
    return p;
}

/* ---- benchmark shapes ---- */

/* Variants: one benchmark may come in several shapes. */
typedef enum shape {
    SHAPE_NONE,
    SHAPE_TOXICCHAT,       /* official CSV/JSONL */
    SHAPE_TOXICCHAT_COPY,  /* {text,label,source=toxicchat,category} */
    SHAPE_TOXICCHAT_JUDGE, /* JUDGE-BENCH instances */
    SHAPE_HARMBENCH,
    SHAPE_HARMBENCH_TARGETS,
    SHAPE_WILDGUARD,      /* published columns */
    SHAPE_WILDGUARD_COPY, /* {text,label,source=wildguardmix_*} */
    SHAPE_XSTEST,
    SHAPE_ADVBENCH,         /* goal,target */
    SHAPE_ADVBENCH_STRINGS, /* target */
    SHAPE_JBB,
    SHAPE_STRONGREJECT,
    SHAPE_REFUSAL_DIRECTION,
    SHAPE_HUB_UNSAFE, /* the Hub copies of HarmBench, AdvBench, StrongREJECT: prompt[, category] */
    SHAPE_XSTEST_HUB, /* natolambert/xstest-v2-copy: id, prompt, type; no label */
    SHAPE_GENERIC,
} shape;

typedef struct shape_def {
    shape s;
    sdc_benchmark b;
    const char *need; /* comma-separated keys that must all be present */
    size_t keys;      /* exactly this many keys; 0: any number */
    int named_only;   /* only with --benchmark: too plain a shape to detect by */
} shape_def;

static const shape_def shapes[] = {
    {SHAPE_TOXICCHAT, SDC_BENCHMARK_TOXICCHAT, "conv_id,user_input,toxicity", 0, 0},
    {SHAPE_TOXICCHAT_COPY, SDC_BENCHMARK_TOXICCHAT, "text,label,source", 0, 0},
    {SHAPE_TOXICCHAT_JUDGE, SDC_BENCHMARK_TOXICCHAT, "id,instance,annotations", 0, 0},
    {SHAPE_HARMBENCH, SDC_BENCHMARK_HARMBENCH, "Behavior,FunctionalCategory,BehaviorID", 0, 0},
    {SHAPE_HARMBENCH_TARGETS, SDC_BENCHMARK_HARMBENCH, NULL, 0, 0},
    {SHAPE_HUB_UNSAFE, SDC_BENCHMARK_HARMBENCH, "prompt,category", 0, 1},
    {SHAPE_WILDGUARD, SDC_BENCHMARK_WILDGUARD, "prompt,prompt_harm_label", 0, 0},
    {SHAPE_WILDGUARD_COPY, SDC_BENCHMARK_WILDGUARD, "text,label,source", 0, 0},
    {SHAPE_XSTEST, SDC_BENCHMARK_XSTEST, "id,prompt,type,label,focus", 0, 0},
    {SHAPE_XSTEST_HUB, SDC_BENCHMARK_XSTEST, "id,prompt,type", 0, 1},
    {SHAPE_ADVBENCH, SDC_BENCHMARK_ADVBENCH, "goal,target", 2, 0},
    {SHAPE_ADVBENCH_STRINGS, SDC_BENCHMARK_ADVBENCH, "target", 1, 0},
    {SHAPE_HUB_UNSAFE, SDC_BENCHMARK_ADVBENCH, "prompt,target", 0, 1},
    {SHAPE_JBB, SDC_BENCHMARK_JAILBREAKBENCH, "Goal,Target,Behavior,Category,Source", 0, 0},
    {SHAPE_STRONGREJECT, SDC_BENCHMARK_STRONGREJECT, "category,source,forbidden_prompt", 0, 0},
    {SHAPE_HUB_UNSAFE, SDC_BENCHMARK_STRONGREJECT, "prompt,category,source", 0, 1},
    {SHAPE_REFUSAL_DIRECTION, SDC_BENCHMARK_REFUSAL_DIRECTION, "instruction,category", 2, 0},
};
#define N_SHAPES (sizeof shapes / sizeof shapes[0])

static int keys_have(const json_t *keys, const char *name, size_t n)
{
    size_t i;
    json_t *k;
    json_array_foreach(keys, i, k)
    {
        if (json_string_length(k) == n && !memcmp(json_string_value(k), name, n))
            return 1;
    }
    return 0;
}

static int keys_have_all(const json_t *keys, const char *need)
{
    const char *p = need;
    while (*p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (!keys_have(keys, p, n))
            return 0;
        if (!e)
            break;
        p = e + 1;
    }
    return 1;
}

static const char *first_str(const sdc_records *r, const char *key)
{
    return r->n ? json_string_value(json_object_get(r->v[0], key)) : NULL;
}

static int shape_matches(const shape_def *d, const sdc_records *r)
{
    if (d->s == SHAPE_HARMBENCH_TARGETS)
        return r->format == SDC_REC_JSON_DICT;
    if (r->format == SDC_REC_JSON_DICT || !r->keys || !keys_have_all(r->keys, d->need))
        return 0;
    if (d->keys && json_array_size(r->keys) != d->keys)
        return 0;
    const char *src = first_str(r, "source");
    switch (d->s) {
    case SHAPE_TOXICCHAT_COPY: return src && !strncmp(src, "toxicchat", 9);
    case SHAPE_WILDGUARD_COPY: return src && !strncmp(src, "wildguardmix", 12);
    case SHAPE_TOXICCHAT_JUDGE: return r->format == SDC_REC_JSON_JUDGE;
    case SHAPE_XSTEST_HUB: return !keys_have(r->keys, "label", 5);
    default: return 1;
    }
}

static void keys_text(const sdc_records *r, char *buf, size_t size)
{
    dc_buf b;
    dc_buf_init(&b, size > 8 ? size - 8 : size);
    size_t i;
    json_t *k;
    if (r->keys)
        json_array_foreach(r->keys, i, k)
        {
            dc_buf_printf(&b, "%s\"%s\"", i ? ", " : "", json_string_value(k));
        }
    snprintf(buf, size, "%s%s", b.data ? b.data : "", b.st ? ", ..." : "");
    dc_buf_free(&b);
}

/* Finds the shape: auto-detect, or the variant of the requested benchmark. */
static dc_status pick_shape(const sdc_records *r, const char *name, sdc_benchmark want, shape *out,
                            dc_error *err)
{
    char keys[300];
    keys_text(r, keys, sizeof keys);
    if (want == SDC_BENCHMARK_GENERIC) {
        *out = SHAPE_GENERIC;
        return DC_STATUS_OK;
    }
    const shape_def *hit[N_SHAPES];
    size_t nh = 0;
    for (size_t i = 0; i < N_SHAPES; i++)
        if ((want == SDC_BENCHMARK_AUTO ? !shapes[i].named_only : shapes[i].b == want) &&
            shape_matches(&shapes[i], r))
            hit[nh++] = &shapes[i];
    if (nh == 1) {
        *out = hit[0]->s;
        return DC_STATUS_OK;
    }
    const char *kind =
        r->format == SDC_REC_CSV || r->format == SDC_REC_PARQUET ? "columns" : "keys";
    if (nh == 0 && want != SDC_BENCHMARK_AUTO) {
        dc_buf need;
        dc_buf_init(&need, 400);
        for (size_t i = 0; i < N_SHAPES; i++)
            if (shapes[i].b == want)
                dc_buf_printf(&need, "%s%s", need.len ? " | " : "",
                              shapes[i].need ? shapes[i].need : "an object of id -> text");
        dc_status st = dc_error_set(
            err, DC_STATUS_FORMAT, "%s: not a %s file: expected %s %s; found %s %s", name,
            sdc_benchmark_name(want), kind, need.data ? need.data : "", kind, keys);
        dc_buf_free(&need);
        return st;
    }
    if (nh == 0)
        return dc_error_set(err, DC_STATUS_FORMAT,
                            "%s: matches no known benchmark (%s: %s); name one with --benchmark, "
                            "or read it with --benchmark generic --prompt-field NAME",
                            name, kind, keys);
    dc_buf names;
    dc_buf_init(&names, 200);
    for (size_t i = 0; i < nh; i++)
        dc_buf_printf(&names, "%s%s", i ? ", " : "", sdc_benchmark_name(hit[i]->b));
    dc_status st = dc_error_set(err, DC_STATUS_FORMAT,
                                "%s: matches more than one benchmark (%s) by its %s %s; pick one "
                                "with --benchmark",
                                name, names.data ? names.data : "", kind, keys);
    dc_buf_free(&names);
    return st;
}

/* ---- field access ---- */

/* Text of a field: strings as they are, numbers and booleans spelled out;
 * NULL for a missing field or null. buf holds the spelled-out forms. */
static const char *field(json_t *rec, const char *key, char *buf, size_t size)
{
    json_t *v = json_object_get(rec, key);
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, size, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    if (json_is_real(v)) {
        snprintf(buf, size, "%.17g", json_real_value(v));
        return buf;
    }
    if (json_is_boolean(v))
        return json_is_true(v) ? "true" : "false";
    return NULL;
}

static int eq_ci(const char *a, size_t n, const char *b)
{
    if (strlen(b) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != b[i])
            return 0;
    }
    return 1;
}

/* Is the trimmed value in the comma list (case-insensitive)? */
static int in_list_ci(const char *list, const char *v, size_t n)
{
    const char *p = list;
    for (;;) {
        const char *e = strchr(p, ',');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        while (k && *p == ' ') {
            p++;
            k--;
        }
        while (k && p[k - 1] == ' ')
            k--;
        char item[128];
        if (k < sizeof item) {
            for (size_t i = 0; i < k; i++)
                item[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] - 'A' + 'a' : p[i]);
            item[k] = '\0';
            if (eq_ci(v, n, item))
                return 1;
        }
        if (!e)
            return 0;
        p = e + 1;
    }
}

static const char *const default_unsafe = "harmful,unsafe,toxic,1,true,yes,jailbreak";
static const char *const default_safe = "safe,unharmful,benign,harmless,0,false,no";

/* Label of a value: 1 ok (even unknown for empty), 0 unrecognised. */
static int parse_label(const char *v, const sdc_load_params *p, sdc_label *out)
{
    *out = SDC_LABEL_UNKNOWN;
    if (!v)
        return 1;
    while (*v == ' ')
        v++;
    size_t n = strlen(v);
    while (n && v[n - 1] == ' ')
        n--;
    if (n == 0 || eq_ci(v, n, "none") || eq_ci(v, n, "null"))
        return 1;
    const char *unsafe = p->unsafe_values ? p->unsafe_values : default_unsafe;
    const char *safe = p->safe_values ? p->safe_values : default_safe;
    if (in_list_ci(unsafe, v, n)) {
        *out = SDC_LABEL_UNSAFE;
        return 1;
    }
    if (in_list_ci(safe, v, n) || (p->unsafe_values && !p->safe_values)) {
        *out = SDC_LABEL_SAFE;
        return 1;
    }
    return 0;
}

/* true/1/yes (any case); the official ToxicChat CSV writes "True". */
static int truthy(const char *v)
{
    return v && (eq_ci(v, strlen(v), "true") || !strcmp(v, "1") || eq_ci(v, strlen(v), "yes"));
}

/* ---- building instances ---- */

typedef struct build {
    const sdc_load_params *p;
    const char *name;  /* file name for messages */
    const char *stem;  /* base name without extension, for ids */
    const char *split; /* from the file name */
    sdc_label file_label;
    sdc_records *r;
    sdc_dataset *ds;
    dc_error *err;
} build;

/* A row problem: fatal, or skipped and counted. */
static dc_status bad_row(build *b, size_t i, dc_status st, const char *what)
{
    char msg[DC_ERROR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s:%s: %s", b->name, sdc_records_where(b->r, i), what);
    if (!b->p->skip_bad_rows)
        return dc_error_set(b->err, st, "%s", msg);
    if (b->ds->rows_skipped++ == 0 && b->r->skipped == 0)
        dc_error_set(&b->r->first_skip, st, "%s", msg);
    return DC_STATUS_OK;
}

/* Compact JSON of the row without the keys used (NULL-terminated list). */
static char *extra_of(json_t *rec, const char *const *used)
{
    json_t *x = json_deep_copy(rec);
    if (!x)
        return NULL;
    for (size_t i = 0; used[i]; i++)
        json_object_del(x, used[i]);
    char *s = json_dumps(x, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(x);
    if (!s)
        return NULL;
    char *out = dc_strdup(s);
    free(s);
    return out;
}

typedef struct row_out {
    const char *id;
    const char *prompt;
    const char *category;
    sdc_label label;
    const char *const *used;
    sdc_message *messages;
    size_t n_messages;
} row_out;

static dc_status emit(build *b, size_t i, const row_out *o)
{
    char idbuf[300];
    const char *id = o->id;
    if (!id || !*id) {
        snprintf(idbuf, sizeof idbuf, "%.200s-%zu", b->stem, i + 1);
        id = idbuf;
    }
    char *extra = extra_of(b->r->v[i], o->used);
    if (!extra)
        return dc_error_set(b->err, DC_STATUS_NOMEM, "%s: out of memory", b->name);
    sdc_instance in;
    memset(&in, 0, sizeof in);
    in.id = (char *)id;
    in.prompt = (char *)o->prompt;
    in.category = (char *)(o->category ? o->category : "");
    in.split = (char *)b->split;
    in.label = o->label;
    in.benchmark = b->ds->benchmark;
    in.extra_json = extra;
    in.line = b->r->line[i];
    in.messages = o->messages;
    in.n_messages = o->n_messages;
    dc_status st = sdc_dataset_push(b->ds, &in);
    dc_free(extra);
    if (st != DC_STATUS_OK)
        return dc_error_set(b->err, st, "%s: out of memory", b->name);
    return DC_STATUS_OK;
}

static dc_status need_text(build *b, size_t i, const char *key, const char *v, int *ok)
{
    *ok = v && *v;
    if (*ok)
        return DC_STATUS_OK;
    char what[200];
    snprintf(what, sizeof what, "field '%s' is %s; expected text", key, v ? "empty" : "missing");
    return bad_row(b, i, DC_STATUS_FORMAT, what);
}

static dc_status need_label(build *b, size_t i, const char *key, const char *v, sdc_label *lab,
                            int *ok)
{
    *ok = parse_label(v, b->p, lab) && *lab != SDC_LABEL_UNKNOWN;
    if (*ok)
        return DC_STATUS_OK;
    char what[300];
    snprintf(what, sizeof what, "field '%s' is '%.80s'; expected a label (%s | %s)", key,
             v ? v : "(missing)", b->p->unsafe_values ? b->p->unsafe_values : default_unsafe,
             b->p->safe_values ? b->p->safe_values : default_safe);
    return bad_row(b, i, DC_STATUS_FORMAT, what);
}

/* Chat messages from an array of {role, content}; 0 when v is not one. */
static int messages_of(json_t *v, sdc_message **out, size_t *n)
{
    if (!json_is_array(v) || json_array_size(v) == 0)
        return 0;
    size_t i;
    json_t *m;
    json_array_foreach(v, i, m)
    {
        if (!json_is_string(json_object_get(m, "role")) ||
            !json_is_string(json_object_get(m, "content")))
            return 0;
    }
    sdc_message *ms = dc_calloc(json_array_size(v), sizeof *ms);
    if (!ms)
        return -1;
    json_array_foreach(v, i, m)
    {
        ms[i].role = (char *)json_string_value(json_object_get(m, "role"));
        ms[i].content = (char *)json_string_value(json_object_get(m, "content"));
    }
    *out = ms;
    *n = json_array_size(v);
    return 1;
}

/* ---- mapping rows: one table entry per shape ---- */

/* Where a shape's label comes from. */
typedef enum label_rule {
    LABEL_NONE,     /* unknown, or set by the shape's check hook */
    LABEL_UNSAFE,   /* every row is a harmful prompt */
    LABEL_FILE,     /* from the file name: refusal-direction's harmful/harmless files */
    LABEL_REQUIRED, /* the field must hold a known label */
    LABEL_OPTIONAL, /* a known label or empty; anything else is a bad row */
    LABEL_FLAGS,    /* as LABEL_OPTIONAL; the message names --unsafe-values/--safe-values */
} label_rule;

typedef struct row_map row_map;

/* One row being mapped: the instance so far and the texts it borrows. */
typedef struct row_ctx {
    const row_map *m;
    json_t *rec;
    row_out o;
    const char *prompt_name; /* named when the prompt is missing; NULL: not checked */
    const char *label;       /* the label's text */
    const char *jailbreak;   /* ToxicChat: the jailbreaking verdict */
    int ok;                  /* 0: the row is skipped (bad and counted, or excluded) */
    char id_buf[64], prompt_buf[64], category_buf[64], label_buf[64], hook_buf[64];
    dc_buf joined; /* context + prompt */
} row_ctx;

/* A shape's quirk; clears c->ok to skip the row. */
typedef dc_status (*row_hook)(build *b, size_t i, row_ctx *c);

struct row_map {
    const char *id;               /* id field; NULL: ids from the file name */
    const char *prompt;           /* the prompt's field, which must hold text */
    const char *context;          /* text put before the prompt when present (HarmBench) */
    const char *category;         /* category field */
    int category_strings;         /* only a string is a category; numbers are not spelled out */
    const char *category_default; /* when the row has no category */
    label_rule label;
    const char *label_field;
    const char *label_as; /* the label's name in messages, when not label_field */
    const char *used[5];  /* fields not copied to extra_json; NULL-terminated */
    row_hook read;        /* before the checks: the fields that are not plain */
    row_hook check;       /* after the prompt and label checks: exclusions, overrides */
};

/* --jailbreak-category: a jailbreak attempt is a category of its own. */
static dc_status toxicchat_jailbreak(build *b, size_t i, row_ctx *c)
{
    (void)i;
    if (b->p->jailbreak_category && truthy(c->jailbreak))
        c->o.category = "jailbreaking";
    return DC_STATUS_OK;
}

/* Official ToxicChat: --human-annotated-only drops the rows that no human labelled. */
static dc_status toxicchat_human(build *b, size_t i, row_ctx *c)
{
    char nb[64];
    if (b->p->human_annotated_only && !truthy(field(c->rec, "human_annotation", nb, sizeof nb))) {
        b->ds->rows_excluded++;
        c->ok = 0;
        return DC_STATUS_OK;
    }
    c->jailbreak = field(c->rec, "jailbreaking", c->hook_buf, sizeof c->hook_buf);
    return toxicchat_jailbreak(b, i, c);
}

/* JUDGE-BENCH keeps the human majority verdicts under annotations. */
static dc_status judge_verdicts(build *b, size_t i, row_ctx *c)
{
    (void)b;
    (void)i;
    json_t *an = json_object_get(c->rec, "annotations");
    c->label =
        json_string_value(json_object_get(json_object_get(an, "toxicity"), "majority_human"));
    c->jailbreak =
        json_string_value(json_object_get(json_object_get(an, "jailbreaking"), "majority_human"));
    return DC_STATUS_OK;
}

/* HarmBench's copyright behaviours ask for protected text, not harm: left out unless asked. */
static dc_status harmbench_copyright(build *b, size_t i, row_ctx *c)
{
    (void)i;
    char nb[64];
    const char *fc = field(c->rec, "FunctionalCategory", nb, sizeof nb);
    if (fc && !strcmp(fc, "copyright") && !b->p->include_copyright) {
        b->ds->rows_excluded++;
        c->ok = 0;
    }
    return DC_STATUS_OK;
}

/* The targets file maps behaviour ids to texts: a missing text is named by its id. */
static dc_status targets_name(build *b, size_t i, row_ctx *c)
{
    (void)b;
    (void)i;
    c->prompt_name = c->o.id ? c->o.id : "value";
    return DC_STATUS_OK;
}

/* The copies name the WildGuardMix subset in source (wildguardmix_<subset>). */
static dc_status wildguard_source(build *b, size_t i, row_ctx *c)
{
    (void)b;
    (void)i;
    const char *src = field(c->rec, "source", c->category_buf, sizeof c->category_buf);
    c->o.category = src && !strncmp(src, "wildguardmix_", 13) ? src + 13 : src;
    return DC_STATUS_OK;
}

/* JailbreakBench's row number is "Index", or the unnamed column pandas writes; ids read jbb-N. */
static dc_status jbb_id(build *b, size_t i, row_ctx *c)
{
    (void)b;
    (void)i;
    if (!c->o.id)
        c->o.id = field(c->rec, "", c->id_buf, sizeof c->id_buf);
    if (c->o.id && *c->o.id) {
        snprintf(c->hook_buf, sizeof c->hook_buf, "jbb-%.40s", c->o.id);
        c->o.id = c->hook_buf;
    }
    return DC_STATUS_OK;
}

/* The Hub copy of XSTest has no label column: its unsafe prompts are the contrast_* types. */
static dc_status xstest_type(build *b, size_t i, row_ctx *c)
{
    dc_status st = need_text(b, i, "type", c->o.category, &c->ok);
    if (st != DC_STATUS_OK || !c->ok)
        return st;
    c->o.label = !strncmp(c->o.category, "contrast_", 9) ? SDC_LABEL_UNSAFE : SDC_LABEL_SAFE;
    return DC_STATUS_OK;
}

/* A prompt field that holds chat messages is sent as the conversation; its prompt text is the
 * last user turn (none: empty, not an error). */
static dc_status generic_messages(build *b, size_t i, row_ctx *c)
{
    (void)i;
    int mr = messages_of(json_object_get(c->rec, c->m->prompt), &c->o.messages, &c->o.n_messages);
    if (mr < 0)
        return dc_error_set(b->err, DC_STATUS_NOMEM, "%s: out of memory", b->name);
    if (mr > 0) {
        c->o.prompt = "";
        for (size_t k = c->o.n_messages; k-- > 0;)
            if (!strcmp(c->o.messages[k].role, "user")) {
                c->o.prompt = c->o.messages[k].content;
                break;
            }
        c->prompt_name = NULL;
    }
    return DC_STATUS_OK;
}

static const row_map row_maps[] = {
    [SHAPE_TOXICCHAT] = {.id = "conv_id",
                         .prompt = "user_input",
                         .category_default = "toxicity",
                         .label = LABEL_REQUIRED,
                         .label_field = "toxicity",
                         .used = {"conv_id", "user_input", "toxicity"},
                         .check = toxicchat_human},
    [SHAPE_TOXICCHAT_COPY] = {.prompt = "text",
                              .category = "category",
                              .category_default = "toxicity",
                              .label = LABEL_REQUIRED,
                              .label_field = "label",
                              .label_as = "toxicity",
                              .used = {"text", "label", "category"}},
    [SHAPE_TOXICCHAT_JUDGE] = {.id = "id",
                               .prompt = "instance",
                               .category_default = "toxicity",
                               .label = LABEL_REQUIRED,
                               .label_as = "annotations.toxicity",
                               .used = {"id", "instance"},
                               .read = judge_verdicts,
                               .check = toxicchat_jailbreak},
    [SHAPE_HARMBENCH] = {.id = "BehaviorID",
                         .prompt = "Behavior",
                         .context = "ContextString",
                         .category = "SemanticCategory",
                         .category_strings = 1,
                         .label = LABEL_UNSAFE,
                         .used = {"Behavior", "SemanticCategory", "ContextString", "BehaviorID"},
                         .check = harmbench_copyright},
    [SHAPE_HARMBENCH_TARGETS] = {.id = "key",
                                 .prompt = "value",
                                 .category_default = "target",
                                 .label = LABEL_UNSAFE,
                                 .used = {"key", "value"},
                                 .read = targets_name},
    [SHAPE_WILDGUARD] = {.prompt = "prompt",
                         .category = "subcategory",
                         .label = LABEL_OPTIONAL,
                         .label_field = "prompt_harm_label",
                         .used = {"prompt", "prompt_harm_label", "subcategory"}},
    [SHAPE_WILDGUARD_COPY] = {.prompt = "text",
                              .label = LABEL_REQUIRED,
                              .label_field = "label",
                              .used = {"text", "label"},
                              .read = wildguard_source},
    [SHAPE_XSTEST] = {.id = "id",
                      .prompt = "prompt",
                      .category = "type",
                      .label = LABEL_REQUIRED,
                      .label_field = "label",
                      .used = {"id", "prompt", "type", "label"}},
    [SHAPE_ADVBENCH] = {.prompt = "goal",
                        .category_default = "",
                        .label = LABEL_UNSAFE,
                        .used = {"goal"}},
    [SHAPE_ADVBENCH_STRINGS] = {.prompt = "target",
                                .category_default = "harmful_string",
                                .label = LABEL_UNSAFE,
                                .used = {"target"}},
    [SHAPE_JBB] = {.id = "Index",
                   .prompt = "Goal",
                   .category = "Category",
                   .category_strings = 1,
                   .label = LABEL_UNSAFE,
                   .used = {"", "Index", "Goal", "Category"},
                   .read = jbb_id},
    [SHAPE_STRONGREJECT] = {.prompt = "forbidden_prompt",
                            .category = "category",
                            .label = LABEL_UNSAFE,
                            .used = {"forbidden_prompt", "category"}},
    [SHAPE_REFUSAL_DIRECTION] = {.prompt = "instruction",
                                 .category = "category",
                                 .label = LABEL_FILE,
                                 .used = {"instruction", "category"}},
    [SHAPE_HUB_UNSAFE] = {.prompt = "prompt",
                          .category = "category",
                          .label = LABEL_UNSAFE,
                          .used = {"prompt", "category"}},
    [SHAPE_XSTEST_HUB] = {.id = "id",
                          .prompt = "prompt",
                          .category = "type",
                          .used = {"id", "prompt", "type"},
                          .check = xstest_type},
};

/* --benchmark generic: the fields are the caller's (--prompt-field ...). */
static row_map generic_map(const sdc_load_params *p)
{
    row_map m;
    memset(&m, 0, sizeof m);
    m.prompt = p->prompt_field ? p->prompt_field : "prompt";
    m.label_field = p->label_field ? p->label_field : "label";
    m.category = p->category_field ? p->category_field : "category";
    m.id = p->id_field ? p->id_field : "id";
    m.label = LABEL_FLAGS;
    m.used[0] = m.prompt;
    m.used[1] = m.label_field;
    m.used[2] = m.category;
    m.used[3] = m.id;
    m.read = generic_messages;
    return m;
}

static dc_status read_label(build *b, size_t i, row_ctx *c)
{
    const row_map *m = c->m;
    const char *name = m->label_as ? m->label_as : m->label_field;
    switch (m->label) {
    case LABEL_NONE: return DC_STATUS_OK;
    case LABEL_UNSAFE: c->o.label = SDC_LABEL_UNSAFE; return DC_STATUS_OK;
    case LABEL_FILE: c->o.label = b->file_label; return DC_STATUS_OK;
    case LABEL_REQUIRED: return need_label(b, i, name, c->label, &c->o.label, &c->ok);
    case LABEL_OPTIONAL:
        if (parse_label(c->label, b->p, &c->o.label))
            return DC_STATUS_OK;
        return need_label(b, i, name, c->label, &c->o.label, &c->ok);
    case LABEL_FLAGS: break;
    }
    if (parse_label(c->label, b->p, &c->o.label))
        return DC_STATUS_OK;
    char what[300];
    snprintf(what, sizeof what,
             "field '%s' is '%.80s'; expected one of --unsafe-values (%s) or "
             "--safe-values (%s)",
             name, c->label, b->p->unsafe_values ? b->p->unsafe_values : default_unsafe,
             b->p->safe_values ? b->p->safe_values : default_safe);
    c->ok = 0;
    return bad_row(b, i, DC_STATUS_FORMAT, what);
}

/* HarmBench's contextual behaviours: the context, a rule, then the request. */
static dc_status join_context(build *b, row_ctx *c)
{
    const char *ctx = json_string_value(json_object_get(c->rec, c->m->context));
    if (!ctx || !*ctx)
        return DC_STATUS_OK;
    dc_buf_puts(&c->joined, ctx);
    dc_buf_puts(&c->joined, "\n\n---\n\n");
    dc_buf_puts(&c->joined, c->o.prompt);
    if (c->joined.st)
        return dc_error_set(b->err, c->joined.st, "%s: out of memory", b->name);
    c->o.prompt = c->joined.data;
    return DC_STATUS_OK;
}

/* Reads and checks one row into c->o; c->ok is 0 when the row is skipped. */
static dc_status map_fields(build *b, size_t i, row_ctx *c)
{
    const row_map *m = c->m;
    if (m->id)
        c->o.id = field(c->rec, m->id, c->id_buf, sizeof c->id_buf);
    c->o.prompt = field(c->rec, m->prompt, c->prompt_buf, sizeof c->prompt_buf);
    c->prompt_name = m->prompt;
    if (m->category)
        c->o.category = m->category_strings
                            ? json_string_value(json_object_get(c->rec, m->category))
                            : field(c->rec, m->category, c->category_buf, sizeof c->category_buf);
    if (m->label_field)
        c->label = field(c->rec, m->label_field, c->label_buf, sizeof c->label_buf);
    dc_status st = m->read ? m->read(b, i, c) : DC_STATUS_OK;
    if (st != DC_STATUS_OK)
        return st;
    if (c->prompt_name && ((st = need_text(b, i, c->prompt_name, c->o.prompt, &c->ok)) || !c->ok))
        return st;
    if ((st = read_label(b, i, c)) || !c->ok)
        return st;
    if (!c->o.category)
        c->o.category = m->category_default;
    if (m->check && ((st = m->check(b, i, c)) || !c->ok))
        return st;
    return m->context ? join_context(b, c) : DC_STATUS_OK;
}

static dc_status map_row(build *b, const row_map *m, size_t i)
{
    row_ctx c;
    memset(&c, 0, sizeof c);
    c.m = m;
    c.rec = b->r->v[i];
    c.o.used = m->used;
    c.ok = 1;
    dc_buf_init(&c.joined, 0);
    dc_status st = map_fields(b, i, &c);
    if (st == DC_STATUS_OK && c.ok)
        st = emit(b, i, &c.o);
    dc_free(c.o.messages);
    dc_buf_free(&c.joined);
    return st;
}

/* ---- file-name hints ---- */

static void name_hints(const char *name, char *stem, size_t size, const char **split,
                       sdc_label *label)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    snprintf(stem, size, "%s", base);
    char *dot = strrchr(stem, '.');
    if (dot && dot != stem)
        *dot = '\0';
    *split = "";
    static const char *const splits[] = {"train", "val", "test", "validation", "dev"};
    for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++) {
        size_t k = strlen(splits[i]), n = strlen(stem);
        /* a word of the stem: _test, -test, test_ ... */
        for (size_t j = 0; j + k <= n; j++)
            if (!memcmp(stem + j, splits[i], k) &&
                (j == 0 || stem[j - 1] == '_' || stem[j - 1] == '-') &&
                (j + k == n || stem[j + k] == '_' || stem[j + k] == '-' || stem[j + k] == '.'))
                *split = !strcmp(splits[i], "validation") || !strcmp(splits[i], "dev") ? "val"
                                                                                       : splits[i];
    }
    *label = SDC_LABEL_UNKNOWN;
    if (strstr(stem, "harmless") || strstr(stem, "benign"))
        *label = SDC_LABEL_SAFE;
    else if (strstr(stem, "harmful"))
        *label = SDC_LABEL_UNSAFE;
}

/* ---- entry points ---- */

dc_status sdc_dataset_load_buffer(const char *name, const char *data, size_t len,
                                  const sdc_load_params *params, sdc_dataset **out, dc_error *err)
{
    sdc_load_params p = params ? *params : sdc_load_default_params();
    *out = NULL;
    if (!name)
        name = "<buffer>";
    if (p.max_field_bytes == 0)
        p.max_field_bytes = SDC_MAX_FIELD_BYTES_DEFAULT;
    if (p.max_rows == 0)
        p.max_rows = SDC_MAX_ROWS_DEFAULT;
    if (p.benchmark == SDC_BENCHMARK_SYNTHETIC)
        return dc_error_set(err, DC_STATUS_INVALID_ARG,
                            "%s: the synthetic benchmark has no files (use sdc_synth)", name);
    sdc_rec_params rp = {name, p.max_field_bytes, p.max_rows, p.skip_bad_rows};
    sdc_records r;
    memset(&r, 0, sizeof r);
    dc_status st = sdc_records_read(data, len, &rp, &r, err);
    shape s = SHAPE_NONE;
    if (st == DC_STATUS_OK)
        st = pick_shape(&r, name, p.benchmark, &s, err);
    sdc_dataset *ds = NULL;
    if (st == DC_STATUS_OK) {
        /* Named: that benchmark (one shape may serve several); detected: the shape's. */
        sdc_benchmark b = p.benchmark == SDC_BENCHMARK_AUTO ? SDC_BENCHMARK_GENERIC : p.benchmark;
        for (size_t i = 0; i < N_SHAPES && p.benchmark == SDC_BENCHMARK_AUTO; i++)
            if (shapes[i].s == s)
                b = shapes[i].b;
        ds = sdc_dataset_new(b);
        if (!ds)
            st = dc_error_set(err, DC_STATUS_NOMEM, "%s: out of memory", name);
    }
    if (st == DC_STATUS_OK) {
        char stem[256];
        build bd;
        memset(&bd, 0, sizeof bd);
        bd.p = &p;
        bd.name = name;
        bd.r = &r;
        bd.ds = ds;
        bd.err = err;
        name_hints(name, stem, sizeof stem, &bd.split, &bd.file_label);
        bd.stem = stem;
        row_map generic = generic_map(&p);
        const row_map *m = s == SHAPE_GENERIC ? &generic : &row_maps[s];
        for (size_t i = 0; i < r.n && st == DC_STATUS_OK; i++)
            st = map_row(&bd, m, i);
        ds->rows_read = r.n + r.skipped;
        ds->rows_skipped += r.skipped;
    }
    if (st == DC_STATUS_OK && r.first_skip.status != DC_STATUS_OK && err) {
        *err = r.first_skip;
        err->status = DC_STATUS_OK;
    }
    sdc_records_free(&r);
    if (st != DC_STATUS_OK) {
        sdc_dataset_free(ds);
        return st;
    }
    *out = ds;
    return DC_STATUS_OK;
}

dc_status sdc_dataset_load(const char *path, const sdc_load_params *params, sdc_dataset **out,
                           dc_error *err)
{
    sdc_load_params p = params ? *params : sdc_load_default_params();
    size_t max = p.max_file_bytes ? p.max_file_bytes : SDC_MAX_FILE_BYTES_DEFAULT;
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return dc_error_set(err, DC_STATUS_IO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
        fclose(f);
        return dc_error_set(err, DC_STATUS_IO, "%s: is a directory", path);
    }
    dc_buf b;
    dc_buf_init(&b, max);
    char chunk[65536];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (dc_buf_append(&b, chunk, k) != DC_STATUS_OK)
            break;
    int rerr = ferror(f);
    fclose(f);
    if (b.st == DC_STATUS_LIMIT) {
        dc_buf_free(&b);
        return dc_error_set(err, DC_STATUS_LIMIT, "%s: larger than %zu bytes (the file size limit)",
                            path, max);
    }
    if (b.st != DC_STATUS_OK || rerr) {
        dc_buf_free(&b);
        return dc_error_set(err, rerr ? DC_STATUS_IO : b.st, "%s: %s", path,
                            rerr ? "read error" : "out of memory");
    }
    dc_status st = sdc_dataset_load_buffer(path, b.data ? b.data : "", b.len, &p, out, err);
    dc_buf_free(&b);
    return st;
}
