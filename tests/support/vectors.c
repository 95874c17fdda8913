/* vectors.c - reference-vector helpers for the tests. */
#include "test_common.h"

#include "support/vectors.h"

json_t *vectors_load(void)
{
    json_error_t e;
    const char *path = test_data_path("deepconf/vectors-public.json");
    json_t *root = json_load_file(path, 0, &e);
    if (!root)
        fail_msg("%s:%d: %s", path, e.line, e.text);
    return root;
}

void vectors_positions(json_t *trace, vec_positions *out)
{
    json_t *toks = json_object_get(trace, "tokens");
    size_t n = json_array_size(toks);
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += json_array_size(json_object_get(json_array_get(toks, i), "topk"));
    out->n = n;
    out->pos = calloc(n ? n : 1, sizeof *out->pos);
    out->values = calloc(total ? total : 1, sizeof *out->values);
    assert_non_null(out->pos);
    assert_non_null(out->values);
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(toks, i);
        json_t *topk = json_object_get(t, "topk");
        size_t k = json_array_size(topk);
        for (size_t j = 0; j < k; j++)
            out->values[off + j] = json_number_value(json_array_get(topk, j));
        long rank = (long)json_integer_value(json_object_get(t, "sampled_rank"));
        out->pos[i] = (dc_position){json_number_value(json_object_get(t, "sampled_lp")),
                                    out->values + off, k, rank < (long)k ? (int)rank : -1};
        off += k;
    }
}

void vectors_positions_free(vec_positions *p)
{
    free(p->pos);
    free(p->values);
}

double *vectors_doubles(json_t *arr, size_t *n)
{
    *n = json_array_size(arr);
    double *x = calloc(*n ? *n : 1, sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < *n; i++)
        x[i] = json_number_value(json_array_get(arr, i));
    return x;
}
