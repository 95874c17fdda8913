/* test_records.c - traces.jsonl's token layouts (records.c): what the
 * topk and full layouts write reads back bit for bit, and topk is small;
 * the readers give the same from traces.jsonl.zst (zstd frames) as from
 * the plain file, and name the file and offset of a damaged frame. */
#include "test_common.h"

#include <unistd.h>
#include <zstd.h>

#include "safety/records.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/sdc-records-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* One token: text, id, sampled logprob, sampled rank, and n alternatives
 * whose ids start at id0 (a negative id0: ids unknown). */
static void token(dc_token *k, const char *text, int32_t id, double lp, int rank, size_t n,
                  int32_t id0)
{
    k->text = text ? dc_strdup(text) : NULL;
    k->id = id;
    k->logprob = lp;
    k->sampled_rank = rank;
    k->n_top = n;
    k->top_lp = dc_calloc(n ? n : 1, sizeof *k->top_lp);
    k->top_id = dc_calloc(n ? n : 1, sizeof *k->top_id);
    k->top_text = dc_calloc(n ? n : 1, sizeof *k->top_text);
    for (size_t j = 0; j < n; j++) {
        k->top_lp[j] = -0.1 * (double)j - 1.0 / 3.0;
        k->top_id[j] = id0 < 0 ? -1 : id0 + (int32_t)j;
        k->top_text[j] = dc_strdup((int)j == rank ? text : "alt");
    }
    if (rank >= 0)
        k->top_lp[rank] = lp;
}

/* The tokens a backend can give: ordinary ones, half a UTF-8 character,
 * one sampled outside the top-k, NaN, ids unknown, an end-of-generation
 * token whose text is not in the trace's text. */
static void make_trace(dc_gen_trace *g)
{
    memset(g, 0, sizeof *g);
    g->trace.n_tokens = 6;
    g->trace.tokens = dc_calloc(6, sizeof *g->trace.tokens);
    dc_token *t = g->trace.tokens;
    token(&t[0], "I", 40, -0.25, 0, 3, 40);
    token(&t[1], "\xe2\x80", 7, -1.0 / 7.0, 1, 3, 6);
    token(&t[2], "\x99t", 8, -12.5, -1, 3, 100);
    token(&t[3], " can", 9, NAN, -1, 2, 3);
    token(&t[4], "\"no\"", -1, -0.5, 1, 2, -1);
    token(&t[5], "<|im_end|>", 151645, -0.0, 0, 4, 151645);
    g->trace.text = dc_strdup("I\xe2\x80\x99t can\"no\"");
    g->stop = DC_STOP_EOS;
    g->index = 3;
    g->seed = 18446744073709551615u;
    g->n_generated = g->n_evaluated = 6;
}

static void write_trace(const char *path, const dc_gen_trace *g, sdc_save_tokens save)
{
    sdc_instance inst = {.id = "x1"};
    sdc_trace_info ti = {.answer = "comply", .mean_logprob = -0.5};
    dc_buf b;
    dc_buf_init(&b, 0);
    sdc_record_trace(&b, &inst, "generated", g, &ti, NULL, SDC_REFUSAL_MODE_RULES, save);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(b.data, 1, b.len, f);
    fclose(f);
    dc_buf_free(&b);
}

static void assert_same_token(const dc_token *a, const dc_token *b, int texts)
{
    assert_int_equal(a->id, b->id);
    assert_string_equal(a->text, b->text);
    assert_memory_equal(&a->logprob, &b->logprob, sizeof a->logprob);
    assert_int_equal(a->sampled_rank, b->sampled_rank);
    assert_int_equal(a->n_top, b->n_top);
    for (size_t j = 0; j < a->n_top; j++) {
        assert_memory_equal(&a->top_lp[j], &b->top_lp[j], sizeof a->top_lp[j]);
        assert_int_equal(a->top_id[j], b->top_id[j]);
        if (!texts)
            assert_null(b->top_text[j]);
    }
}

static long read_back(const char *path, const dc_gen_trace *g, int texts)
{
    sdc_saved_traces *s;
    dc_error err = {0};
    assert_int_equal(sdc_saved_traces_open(path, &s, &err), DC_STATUS_OK);
    const dc_gen_trace *r;
    size_t n;
    assert_int_equal(sdc_saved_traces_get(s, "x1", &r, &n, &err), DC_STATUS_OK);
    assert_int_equal(n, 1);
    assert_string_equal(r->trace.text, g->trace.text);
    assert_int_equal(r->trace.n_tokens, g->trace.n_tokens);
    for (size_t i = 0; i < g->trace.n_tokens; i++)
        assert_same_token(&g->trace.tokens[i], &r->trace.tokens[i], texts);
    assert_int_equal(r->stop, g->stop);
    assert_true(r->seed == g->seed);
    assert_int_equal(r->index, g->index);
    sdc_saved_traces_close(s);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    return size;
}

static void test_layouts_read_back_exactly(void **state)
{
    (void)state;
    dc_gen_trace g;
    make_trace(&g);
    char p[300];
    snprintf(p, sizeof p, "%s/full.jsonl", dir);
    write_trace(p, &g, SDC_SAVE_TOKENS_FULL);
    long full = read_back(p, &g, 1);
    snprintf(p, sizeof p, "%s/topk.jsonl", dir);
    write_trace(p, &g, SDC_SAVE_TOKENS_TOPK);
    long topk = read_back(p, &g, 0);
    assert_true(topk < full * 2 / 3);
    /* none: no tokens, which the reader refuses by name */
    snprintf(p, sizeof p, "%s/none.jsonl", dir);
    write_trace(p, &g, SDC_SAVE_TOKENS_NONE);
    sdc_saved_traces *s;
    dc_error err = {0};
    assert_int_equal(sdc_saved_traces_open(p, &s, &err), DC_STATUS_FORMAT);
    assert_non_null(strstr(err.msg, "saved with tokens"));
    dc_trace_clear(&g.trace);
}

static void test_topk_malformed_names_line(void **state)
{
    (void)state;
    char p[300];
    snprintf(p, sizeof p, "%s/bad.jsonl", dir);
    FILE *f = fopen(p, "wb");
    fputs("{\"instance_id\":\"x1\",\"strategy\":\"generated\",\"trace\":0,\"seed\":\"1\","
          "\"stop\":\"eos\",\"text\":\"ab\",\"tokens\":[[5,9,[5],[-0.5]]]}\n",
          f);
    fclose(f);
    sdc_saved_traces *s;
    dc_error err = {0};
    assert_int_equal(sdc_saved_traces_open(p, &s, &err), DC_STATUS_OK);
    const dc_gen_trace *r;
    size_t n;
    assert_int_equal(sdc_saved_traces_get(s, "x1", &r, &n, &err), DC_STATUS_FORMAT);
    assert_non_null(strstr(err.msg, "bad.jsonl:1: \"tokens\"[0]"));
    sdc_saved_traces_close(s);
}

/* ---- traces.jsonl.zst ---- */

/* Three instances of two traces, as the runner writes them: the plain
 * file at dir/plain.jsonl, the same text as one zstd frame per instance
 * at dir/frames.jsonl.zst (off: each frame's offset; *len: the size). */
static void write_both(const dc_gen_trace *g, size_t *off, size_t *len)
{
    char p[300];
    snprintf(p, sizeof p, "%s/plain.jsonl", dir);
    FILE *fp = fopen(p, "wb");
    snprintf(p, sizeof p, "%s/frames.jsonl.zst", dir);
    FILE *fz = fopen(p, "wb");
    assert_true(fp && fz);
    static const char *const ids[] = {"x1", "x2", "x3"};
    /* as the results write them: level 3, with a checksum */
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, 3);
    ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
    *len = 0;
    for (int i = 0; i < 3; i++) {
        sdc_instance inst = {.id = (char *)ids[i]};
        sdc_trace_info ti = {.answer = i == 1 ? "refuse" : "comply", .mean_logprob = -0.5};
        dc_buf b;
        dc_buf_init(&b, 0);
        for (uint64_t t = 0; t < 2; t++) {
            dc_gen_trace gi = *g;
            gi.index = t;
            sdc_record_trace(&b, &inst, "generated", &gi, &ti, NULL, SDC_REFUSAL_MODE_RULES,
                             SDC_SAVE_TOKENS_TOPK);
        }
        fwrite(b.data, 1, b.len, fp);
        char z[65536];
        size_t n = ZSTD_compress2(cc, z, sizeof z, b.data, b.len);
        assert_false(ZSTD_isError(n));
        fwrite(z, 1, n, fz);
        off[i] = *len;
        *len += n;
        dc_buf_free(&b);
    }
    ZSTD_freeCCtx(cc);
    fclose(fp);
    fclose(fz);
}

static void assert_same_traces(const dc_gen_trace *a, size_t na, const dc_gen_trace *b, size_t nb)
{
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        assert_string_equal(a[i].trace.text, b[i].trace.text);
        assert_int_equal(a[i].trace.n_tokens, b[i].trace.n_tokens);
        for (size_t k = 0; k < a[i].trace.n_tokens; k++)
            assert_same_token(&a[i].trace.tokens[k], &b[i].trace.tokens[k], 0);
        assert_int_equal(a[i].index, b[i].index);
        assert_true(a[i].seed == b[i].seed);
        assert_int_equal(a[i].stop, b[i].stop);
    }
}

/* The saved-traces reader (analyze --replay) and the streaming reader
 * (report cases) give the same from the frames as from the plain file,
 * in any order of instances. */
static void test_zstd_reads_as_plain(void **state)
{
    (void)state;
    dc_gen_trace g;
    make_trace(&g);
    size_t off[3], len;
    write_both(&g, off, &len);
    char pp[300], pz[300];
    snprintf(pp, sizeof pp, "%s/plain.jsonl", dir);
    snprintf(pz, sizeof pz, "%s/frames.jsonl.zst", dir);
    sdc_saved_traces *sp, *sz;
    dc_error err = {0};
    assert_int_equal(sdc_saved_traces_open(pp, &sp, &err), DC_STATUS_OK);
    assert_int_equal(sdc_saved_traces_open(pz, &sz, &err), DC_STATUS_OK);
    static const char *const order[] = {"x3", "x1", "x2", "x2", "x1"};
    for (size_t i = 0; i < 5; i++) {
        const dc_gen_trace *a, *b;
        size_t na, nb;
        assert_int_equal(sdc_saved_traces_get(sp, order[i], &a, &na, &err), DC_STATUS_OK);
        assert_int_equal(sdc_saved_traces_get(sz, order[i], &b, &nb, &err), DC_STATUS_OK);
        assert_int_equal(nb, 2);
        assert_same_traces(a, na, b, nb);
        dc_gen_trace g0 = g;
        g0.index = 0;
        assert_same_traces(&g0, 1, b, 1);
    }
    sdc_saved_traces_close(sp);
    sdc_saved_traces_close(sz);

    sdc_trace_reader *rp, *rz;
    assert_int_equal(sdc_trace_reader_open(pp, NULL, &rp, &err), DC_STATUS_OK);
    assert_int_equal(sdc_trace_reader_open(pz, NULL, &rz, &err), DC_STATUS_OK);
    sdc_trace_record a, b;
    size_t n = 0;
    dc_status st;
    while ((st = sdc_trace_reader_next(rp, &a, &err)) == DC_STATUS_OK) {
        assert_int_equal(sdc_trace_reader_next(rz, &b, &err), DC_STATUS_OK);
        assert_string_equal(a.instance_id, b.instance_id);
        assert_int_equal(a.index, b.index);
        assert_string_equal(a.text, b.text);
        assert_string_equal(a.answer, b.answer);
        assert_double_bits(a.mean_logprob, b.mean_logprob);
        assert_int_equal(a.n_saved, b.n_saved);
        for (size_t k = 0; k < a.n_saved; k++) {
            assert_string_equal(a.token_text[k], b.token_text[k]);
            assert_double_bits(a.token_conf[k], b.token_conf[k]);
        }
        n++;
    }
    assert_int_equal(st, DC_STATUS_NOT_FOUND);
    assert_int_equal(sdc_trace_reader_next(rz, &b, &err), DC_STATUS_NOT_FOUND);
    assert_int_equal(n, 6);
    sdc_trace_reader_close(rp);
    sdc_trace_reader_close(rz);
    dc_trace_clear(&g.trace);
}

/* path's first len bytes, with the byte at flip (if < len) changed. */
static void write_damaged(const char *path, const char *src, size_t len, size_t flip)
{
    FILE *in = fopen(src, "rb");
    char *z = malloc(len);
    assert_int_equal(fread(z, 1, len, in), len);
    fclose(in);
    if (flip < len)
        z[flip] ^= 0x5a;
    FILE *out = fopen(path, "wb");
    fwrite(z, 1, len, out);
    fclose(out);
    free(z);
}

/* A last frame cut short is an interrupted run to resume first (the
 * stream reader stops before it); a frame that does not decode names the
 * file and the frame's offset. */
static void test_zstd_damage_named(void **state)
{
    (void)state;
    dc_gen_trace g;
    make_trace(&g);
    size_t off[3], len;
    write_both(&g, off, &len);
    dc_trace_clear(&g.trace);
    char pz[300], p[300];
    snprintf(pz, sizeof pz, "%s/frames.jsonl.zst", dir);
    snprintf(p, sizeof p, "%s/torn.jsonl.zst", dir);
    write_damaged(p, pz, off[2] + 12, (size_t)-1);
    sdc_saved_traces *s;
    dc_error err = {0};
    assert_int_equal(sdc_saved_traces_open(p, &s, &err), DC_STATUS_FORMAT);
    assert_non_null(strstr(err.msg, "torn.jsonl.zst: its last zstd frame is cut short"));
    sdc_trace_reader *r;
    sdc_trace_record rec;
    assert_int_equal(sdc_trace_reader_open(p, NULL, &r, &err), DC_STATUS_OK);
    size_t n = 0;
    dc_status st;
    while ((st = sdc_trace_reader_next(r, &rec, &err)) == DC_STATUS_OK)
        n++;
    assert_int_equal(st, DC_STATUS_NOT_FOUND);
    assert_int_equal(n, 4);
    sdc_trace_reader_close(r);

    snprintf(p, sizeof p, "%s/bad.jsonl.zst", dir);
    write_damaged(p, pz, len, off[1] + (off[2] - off[1]) / 2);
    char want[160];
    snprintf(want, sizeof want, "bad.jsonl.zst: the zstd frame at byte %zu does not decode",
             off[1]);
    assert_int_equal(sdc_saved_traces_open(p, &s, &err), DC_STATUS_PARSE);
    if (!strstr(err.msg, want))
        fail_msg("expected \"%s\" in \"%s\"", want, err.msg);
    assert_int_equal(sdc_trace_reader_open(p, NULL, &r, &err), DC_STATUS_OK);
    while ((st = sdc_trace_reader_next(r, &rec, &err)) == DC_STATUS_OK)
        ;
    assert_int_equal(st, DC_STATUS_PARSE);
    assert_non_null(strstr(err.msg, want));
    sdc_trace_reader_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_layouts_read_back_exactly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_topk_malformed_names_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zstd_reads_as_plain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zstd_damage_named, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
