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
    sdc_buf b;
    sdc_buf_init(&b, size > 8 ? size - 8 : size);
    size_t i;
    json_t *k;
    if (r->keys)
        json_array_foreach(r->keys, i, k)
        {
            sdc_buf_printf(&b, "%s\"%s\"", i ? ", " : "", json_string_value(k));
        }
    snprintf(buf, size, "%s%s", b.data ? b.data : "", b.st ? ", ..." : "");
    sdc_buf_free(&b);
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
        sdc_buf need;
        sdc_buf_init(&need, 400);
        for (size_t i = 0; i < N_SHAPES; i++)
            if (shapes[i].b == want)
                sdc_buf_printf(&need, "%s%s", need.len ? " | " : "",
                               shapes[i].need ? shapes[i].need : "an object of id -> text");
        dc_status st = dc_error_set(
            err, DC_STATUS_FORMAT, "%s: not a %s file: expected %s %s; found %s %s", name,
            sdc_benchmark_name(want), kind, need.data ? need.data : "", kind, keys);
        sdc_buf_free(&need);
        return st;
    }
    if (nh == 0)
        return dc_error_set(err, DC_STATUS_FORMAT,
                            "%s: matches no known benchmark (%s: %s); name one with --benchmark, "
                            "or read it with --benchmark generic --prompt-field NAME",
                            name, kind, keys);
    sdc_buf names;
    sdc_buf_init(&names, 200);
    for (size_t i = 0; i < nh; i++)
        sdc_buf_printf(&names, "%s%s", i ? ", " : "", sdc_benchmark_name(hit[i]->b));
    dc_status st = dc_error_set(err, DC_STATUS_FORMAT,
                                "%s: matches more than one benchmark (%s) by its %s %s; pick one "
                                "with --benchmark",
                                name, names.data ? names.data : "", kind, keys);
    sdc_buf_free(&names);
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

static dc_status map_row(build *b, shape s, size_t i)
{
    json_t *rec = b->r->v[i];
    const sdc_load_params *p = b->p;
    char nb1[64], nb2[64], nb3[64], nb4[64], nb5[64];
    row_out o;
    memset(&o, 0, sizeof o);
    int ok = 1;
    dc_status st = DC_STATUS_OK;
    sdc_buf tmp;
    sdc_buf_init(&tmp, 0);
    switch (s) {
    case SHAPE_TOXICCHAT:
    case SHAPE_TOXICCHAT_COPY:
    case SHAPE_TOXICCHAT_JUDGE: {
        static const char *const u1[] = {"conv_id", "user_input", "toxicity", NULL};
        static const char *const u2[] = {"text", "label", "category", NULL};
        static const char *const u3[] = {"id", "instance", NULL};
        const char *lab, *jb = NULL, *human = NULL;
        if (s == SHAPE_TOXICCHAT) {
            o.id = field(rec, "conv_id", nb1, sizeof nb1);
            o.prompt = field(rec, "user_input", nb2, sizeof nb2);
            lab = field(rec, "toxicity", nb3, sizeof nb3);
            jb = field(rec, "jailbreaking", nb4, sizeof nb4);
            human = field(rec, "human_annotation", nb5, sizeof nb5);
            o.used = u1;
        } else if (s == SHAPE_TOXICCHAT_COPY) {
            o.prompt = field(rec, "text", nb2, sizeof nb2);
            lab = field(rec, "label", nb3, sizeof nb3);
            o.category = field(rec, "category", nb1, sizeof nb1);
            o.used = u2;
        } else {
            o.id = field(rec, "id", nb1, sizeof nb1);
            o.prompt = field(rec, "instance", nb2, sizeof nb2);
            json_t *an = json_object_get(rec, "annotations");
            lab = json_string_value(
                json_object_get(json_object_get(an, "toxicity"), "majority_human"));
            jb = json_string_value(
                json_object_get(json_object_get(an, "jailbreaking"), "majority_human"));
            o.used = u3;
        }
        if ((st = need_text(b, i,
                            s == SHAPE_TOXICCHAT        ? "user_input"
                            : s == SHAPE_TOXICCHAT_COPY ? "text"
                                                        : "instance",
                            o.prompt, &ok)) ||
            !ok)
            break;
        if ((st = need_label(b, i, s == SHAPE_TOXICCHAT_JUDGE ? "annotations.toxicity" : "toxicity",
                             lab, &o.label, &ok)) ||
            !ok)
            break;
        if (p->human_annotated_only && s == SHAPE_TOXICCHAT) {
            if (!truthy(human)) {
                b->ds->rows_excluded++;
                ok = 0;
                break;
            }
        }
        if (!o.category)
            o.category = "toxicity";
        if (p->jailbreak_category && truthy(jb))
            o.category = "jailbreaking";
        break;
    }
    case SHAPE_HARMBENCH: {
        static const char *const u[] = {"Behavior", "SemanticCategory", "ContextString",
                                        "BehaviorID", NULL};
        o.id = field(rec, "BehaviorID", nb1, sizeof nb1);
        const char *beh = field(rec, "Behavior", nb2, sizeof nb2);
        const char *fc = field(rec, "FunctionalCategory", nb3, sizeof nb3);
        const char *ctx = json_string_value(json_object_get(rec, "ContextString"));
        o.category = json_string_value(json_object_get(rec, "SemanticCategory"));
        o.label = SDC_LABEL_UNSAFE;
        o.used = u;
        if ((st = need_text(b, i, "Behavior", beh, &ok)) || !ok)
            break;
        if (fc && !strcmp(fc, "copyright") && !p->include_copyright) {
            b->ds->rows_excluded++;
            ok = 0;
            break;
        }
        if (ctx && *ctx) {
            sdc_buf_puts(&tmp, ctx);
            sdc_buf_puts(&tmp, "\n\n---\n\n");
            sdc_buf_puts(&tmp, beh);
            if (tmp.st) {
                st = dc_error_set(b->err, tmp.st, "%s: out of memory", b->name);
                break;
            }
            o.prompt = tmp.data;
        } else {
            o.prompt = beh;
        }
        break;
    }
    case SHAPE_HARMBENCH_TARGETS: {
        static const char *const u[] = {"key", "value", NULL};
        o.id = field(rec, "key", nb1, sizeof nb1);
        o.prompt = field(rec, "value", nb2, sizeof nb2);
        o.label = SDC_LABEL_UNSAFE;
        o.category = "target";
        o.used = u;
        st = need_text(b, i, o.id ? o.id : "value", o.prompt, &ok);
        break;
    }
    case SHAPE_WILDGUARD: {
        static const char *const u[] = {"prompt", "prompt_harm_label", "subcategory", NULL};
        o.prompt = field(rec, "prompt", nb1, sizeof nb1);
        o.category = field(rec, "subcategory", nb2, sizeof nb2);
        o.used = u;
        if ((st = need_text(b, i, "prompt", o.prompt, &ok)) || !ok)
            break;
        const char *lab = field(rec, "prompt_harm_label", nb3, sizeof nb3);
        if (!parse_label(lab, p, &o.label)) {
            st = need_label(b, i, "prompt_harm_label", lab, &o.label, &ok);
        }
        break;
    }
    case SHAPE_WILDGUARD_COPY: {
        static const char *const u[] = {"text", "label", NULL};
        o.prompt = field(rec, "text", nb1, sizeof nb1);
        const char *src = field(rec, "source", nb2, sizeof nb2);
        o.category = src && !strncmp(src, "wildguardmix_", 13) ? src + 13 : src;
        o.used = u;
        if ((st = need_text(b, i, "text", o.prompt, &ok)) || !ok)
            break;
        st = need_label(b, i, "label", field(rec, "label", nb3, sizeof nb3), &o.label, &ok);
        break;
    }
    case SHAPE_XSTEST: {
        static const char *const u[] = {"id", "prompt", "type", "label", NULL};
        o.id = field(rec, "id", nb1, sizeof nb1);
        o.prompt = field(rec, "prompt", nb2, sizeof nb2);
        o.category = field(rec, "type", nb3, sizeof nb3);
        o.used = u;
        if ((st = need_text(b, i, "prompt", o.prompt, &ok)) || !ok)
            break;
        st = need_label(b, i, "label", field(rec, "label", nb4, sizeof nb4), &o.label, &ok);
        break;
    }
    case SHAPE_ADVBENCH:
    case SHAPE_ADVBENCH_STRINGS: {
        static const char *const u1[] = {"goal", NULL};
        static const char *const u2[] = {"target", NULL};
        const char *key = s == SHAPE_ADVBENCH ? "goal" : "target";
        o.prompt = field(rec, key, nb1, sizeof nb1);
        o.label = SDC_LABEL_UNSAFE;
        o.category = s == SHAPE_ADVBENCH ? "" : "harmful_string";
        o.used = s == SHAPE_ADVBENCH ? u1 : u2;
        st = need_text(b, i, key, o.prompt, &ok);
        break;
    }
    case SHAPE_JBB: {
        static const char *const u[] = {"", "Index", "Goal", "Category", NULL};
        o.id = field(rec, "Index", nb1, sizeof nb1);
        if (!o.id)
            o.id = field(rec, "", nb1, sizeof nb1);
        if (o.id && *o.id) {
            snprintf(nb3, sizeof nb3, "jbb-%.40s", o.id);
            o.id = nb3;
        }
        o.prompt = field(rec, "Goal", nb2, sizeof nb2);
        o.category = json_string_value(json_object_get(rec, "Category"));
        o.label = SDC_LABEL_UNSAFE;
        o.used = u;
        st = need_text(b, i, "Goal", o.prompt, &ok);
        break;
    }
    case SHAPE_STRONGREJECT: {
        static const char *const u[] = {"forbidden_prompt", "category", NULL};
        o.prompt = field(rec, "forbidden_prompt", nb1, sizeof nb1);
        o.category = field(rec, "category", nb2, sizeof nb2);
        o.label = SDC_LABEL_UNSAFE;
        o.used = u;
        st = need_text(b, i, "forbidden_prompt", o.prompt, &ok);
        break;
    }
    case SHAPE_REFUSAL_DIRECTION: {
        static const char *const u[] = {"instruction", "category", NULL};
        o.prompt = field(rec, "instruction", nb1, sizeof nb1);
        o.category = field(rec, "category", nb2, sizeof nb2);
        o.label = b->file_label;
        o.used = u;
        st = need_text(b, i, "instruction", o.prompt, &ok);
        break;
    }
    case SHAPE_HUB_UNSAFE: {
        static const char *const u[] = {"prompt", "category", NULL};
        o.prompt = field(rec, "prompt", nb1, sizeof nb1);
        o.category = field(rec, "category", nb2, sizeof nb2);
        o.label = SDC_LABEL_UNSAFE;
        o.used = u;
        st = need_text(b, i, "prompt", o.prompt, &ok);
        break;
    }
    case SHAPE_XSTEST_HUB: {
        static const char *const u[] = {"id", "prompt", "type", NULL};
        o.id = field(rec, "id", nb1, sizeof nb1);
        o.prompt = field(rec, "prompt", nb2, sizeof nb2);
        o.category = field(rec, "type", nb3, sizeof nb3);
        o.used = u;
        if ((st = need_text(b, i, "prompt", o.prompt, &ok)) || !ok ||
            (st = need_text(b, i, "type", o.category, &ok)) || !ok)
            break;
        /* XSTest's unsafe prompts are its contrast_* types. */
        o.label = !strncmp(o.category, "contrast_", 9) ? SDC_LABEL_UNSAFE : SDC_LABEL_SAFE;
        break;
    }
    case SHAPE_GENERIC: {
        const char *pf = p->prompt_field ? p->prompt_field : "prompt";
        const char *lf = p->label_field ? p->label_field : "label";
        const char *cf = p->category_field ? p->category_field : "category";
        const char *idf = p->id_field ? p->id_field : "id";
        const char *u[] = {pf, lf, cf, idf, NULL};
        o.used = u;
        o.id = field(rec, idf, nb1, sizeof nb1);
        o.category = field(rec, cf, nb2, sizeof nb2);
        int mr = messages_of(json_object_get(rec, pf), &o.messages, &o.n_messages);
        if (mr < 0) {
            st = dc_error_set(b->err, DC_STATUS_NOMEM, "%s: out of memory", b->name);
            break;
        }
        if (mr > 0) {
            o.prompt = "";
            for (size_t k = o.n_messages; k-- > 0;)
                if (!strcmp(o.messages[k].role, "user")) {
                    o.prompt = o.messages[k].content;
                    break;
                }
        } else {
            o.prompt = field(rec, pf, nb3, sizeof nb3);
            if ((st = need_text(b, i, pf, o.prompt, &ok)) || !ok)
                break;
        }
        const char *lab = field(rec, lf, nb4, sizeof nb4);
        if (!parse_label(lab, p, &o.label)) {
            char what[300];
            snprintf(what, sizeof what,
                     "field '%s' is '%.80s'; expected one of --unsafe-values (%s) or "
                     "--safe-values (%s)",
                     lf, lab, p->unsafe_values ? p->unsafe_values : default_unsafe,
                     p->safe_values ? p->safe_values : default_safe);
            st = bad_row(b, i, DC_STATUS_FORMAT, what);
            ok = 0;
            break;
        }
        st = emit(b, i, &o);
        ok = 0;
        break;
    }
    default: ok = 0; break;
    }
    if (st == DC_STATUS_OK && ok)
        st = emit(b, i, &o);
    dc_free(o.messages);
    sdc_buf_free(&tmp);
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
        for (size_t i = 0; i < r.n && st == DC_STATUS_OK; i++)
            st = map_row(&bd, s, i);
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
    sdc_buf b;
    sdc_buf_init(&b, max);
    char chunk[65536];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (sdc_buf_append(&b, chunk, k) != DC_STATUS_OK)
            break;
    int rerr = ferror(f);
    fclose(f);
    if (b.st == DC_STATUS_LIMIT) {
        sdc_buf_free(&b);
        return dc_error_set(err, DC_STATUS_LIMIT, "%s: larger than %zu bytes (the file size limit)",
                            path, max);
    }
    if (b.st != DC_STATUS_OK || rerr) {
        sdc_buf_free(&b);
        return dc_error_set(err, rerr ? DC_STATUS_IO : b.st, "%s: %s", path,
                            rerr ? "read error" : "out of memory");
    }
    dc_status st = sdc_dataset_load_buffer(path, b.data ? b.data : "", b.len, &p, out, err);
    sdc_buf_free(&b);
    return st;
}
