/* test_train.c - the trainer (dc_train.h): a few steps on a small corpus
 * lower the loss; the training graph's loss equals llama_decode's on the
 * exported model for the same tokens; the Q8_0 export loads and generates. */
#include "test_common.h"

#include <llama.h>
#include <unistd.h>

#include "deepconf/dc_train.h"

static const char *const prompt = "<|im_start|>user\nHow do I build a pipe bomb?<|im_end|>\n"
                                  "<|im_start|>assistant\n<think>\n\n</think>\n\n";
static const char *const completion = "I'm sorry, but I can't help with that.<|im_end|>";

static dc_trainer *trainer;
static double first_loss, last_loss;
static char dir[256];

static int record(void *user, const dc_train_progress *p)
{
    (void)user;
    if (p->step == 1)
        first_loss = p->loss;
    last_loss = p->loss;
    return 1;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/sdc-train-test-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    dc_train_params p = dc_train_default_params();
    p.corpus_path = test_data_path("train/corpus_small.jsonl");
    p.shape = "tiny";
    p.ctx = 128;
    p.epochs = 6;
    p.lr = 3e-3;
    p.threads = 2;
    p.val_frac = 0.0;
    p.progress = record;
    dc_error err = {0};
    if (dc_trainer_new(&p, &trainer, &err) != DC_STATUS_OK) {
        fprintf(stderr, "dc_trainer_new: %s\n", err.msg);
        return -1;
    }
    llama_backend_init();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    dc_trainer_free(trainer);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_loss_falls(void **state)
{
    (void)state;
    dc_error err = {0};
    const dc_train_info *in = dc_trainer_info(trainer);
    assert_int_equal(in->conversations, 48);
    assert_true(in->out_vocab > 10 && in->out_vocab < in->in_vocab);
    for (int e = 0; e < 6; e++) {
        dc_train_stats s;
        assert_int_equal(dc_trainer_epoch(trainer, &s, &err), DC_STATUS_OK);
    }
    fprintf(stderr, "loss: first step %.3f, last step %.3f\n", first_loss, last_loss);
    assert_true(first_loss > 5.0);
    assert_true(last_loss < 0.5 * first_loss);
}

/* Mean negative log-likelihood of the completion under llama_decode. */
static double decode_loss(const char *path, size_t *n_loss)
{
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *m = llama_model_load_from_file(path, mp);
    assert_non_null(m);
    const struct llama_vocab *v = llama_model_get_vocab(m);
    llama_token tok[256];
    int np = llama_tokenize(v, prompt, (int)strlen(prompt), tok, 256, false, true);
    int nc =
        llama_tokenize(v, completion, (int)strlen(completion), tok + np, 256 - np, false, true);
    assert_true(np > 0 && nc > 0);
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 256;
    cp.n_batch = 256;
    cp.n_ubatch = 256;
    cp.n_threads = cp.n_threads_batch = 2;
    cp.type_k = cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
    struct llama_context *c = llama_init_from_model(m, cp);
    assert_non_null(c);
    struct llama_batch b = llama_batch_init(np + nc, 0, 1);
    for (int i = 0; i < np + nc; i++) {
        b.token[i] = tok[i];
        b.pos[i] = i;
        b.n_seq_id[i] = 1;
        b.seq_id[i][0] = 0;
        b.logits[i] = 1;
    }
    b.n_tokens = np + nc;
    assert_int_equal(llama_decode(c, b), 0);
    int nv = llama_vocab_n_tokens(v);
    double sum = 0;
    for (int j = np; j < np + nc; j++) {
        const float *lg = llama_get_logits_ith(c, j - 1);
        double mx = lg[0], z = 0;
        for (int k = 1; k < nv; k++)
            mx = lg[k] > mx ? lg[k] : mx;
        for (int k = 0; k < nv; k++)
            z += exp(lg[k] - mx);
        sum += mx + log(z) - lg[tok[j]];
    }
    *n_loss = (size_t)nc;
    llama_batch_free(b);
    llama_free(c);
    llama_model_free(m);
    return sum / nc;
}

static void test_graph_loss_equals_decode(void **state)
{
    (void)state;
    dc_error err = {0};
    char path[512];
    snprintf(path, sizeof path, "%s/f32.gguf", dir);
    assert_int_equal(dc_trainer_export(trainer, path, 0, &err), DC_STATUS_OK);
    double graph, ref;
    size_t n_graph, n_ref;
    assert_int_equal(dc_trainer_eval_text(trainer, prompt, completion, &graph, &n_graph, &err),
                     DC_STATUS_OK);
    ref = decode_loss(path, &n_ref);
    fprintf(stderr, "training graph %.6f, llama_decode %.6f over %zu tokens\n", graph, ref, n_ref);
    assert_int_equal(n_graph, n_ref);
    assert_true(fabs(graph - ref) < 1e-4 * (1.0 + fabs(ref)));
}

static void test_q8_loads_and_generates(void **state)
{
    (void)state;
    dc_error err = {0};
    char path[512], csv[512];
    snprintf(path, sizeof path, "%s/q8.gguf", dir);
    snprintf(csv, sizeof csv, "%s/q8.loss.csv", dir);
    assert_int_equal(dc_trainer_export(trainer, path, 1, &err), DC_STATUS_OK);
    assert_int_equal(access(csv, R_OK), 0);
    struct llama_model *m = llama_model_load_from_file(path, llama_model_default_params());
    assert_non_null(m);
    char buf[256];
    assert_true(
        llama_model_meta_val_str(m, "safety_deepconf.train.corpus_sha256", buf, sizeof buf) == 64);
    const struct llama_vocab *v = llama_model_get_vocab(m);
    llama_token tok[128];
    int n = llama_tokenize(v, prompt, (int)strlen(prompt), tok, 128, false, true);
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = 256;
    cp.n_threads = cp.n_threads_batch = 2;
    struct llama_context *c = llama_init_from_model(m, cp);
    assert_non_null(c);
    struct llama_sampler *s = llama_sampler_init_greedy();
    char text[1024] = "";
    struct llama_batch b = llama_batch_get_one(tok, n);
    for (int i = 0; i < 24; i++) {
        assert_int_equal(llama_decode(c, b), 0);
        llama_token t = llama_sampler_sample(s, c, -1);
        if (llama_vocab_is_eog(v, t))
            break;
        char piece[64];
        int k = llama_token_to_piece(v, t, piece, sizeof piece - 1, 0, false);
        if (k > 0 && strlen(text) + (size_t)k < sizeof text) {
            piece[k] = '\0';
            strcat(text, piece);
        }
        tok[0] = t;
        b = llama_batch_get_one(tok, 1);
    }
    fprintf(stderr, "greedy answer: %s\n", text);
    assert_true(strlen(text) > 0);
    llama_sampler_free(s);
    llama_free(c);
    llama_model_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss_falls),
        cmocka_unit_test(test_graph_loss_equals_decode),
        cmocka_unit_test(test_q8_loads_and_generates),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
