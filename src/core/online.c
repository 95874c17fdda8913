/* online.c - the DeepConf online controller. */
#include "deepconf/dc_online.h"

#include <math.h>
#include <string.h>

struct dc_online {
    dc_online_params p;
    double *warm_scores; /* p.warmup entries */
    size_t n_warm;
    double threshold;
    /* voters (and every trace's answer, for the vote's index space) */
    char **answers;
    double *weights;
    unsigned char *votes;
    size_t n_traces;
    size_t cap;
    int consensus_hit;
};

dc_online_params dc_online_default_params(void)
{
    return (dc_online_params){4, 90.0, 64, 0.95, 10};
}

dc_status dc_online_new(const dc_online_params *params, dc_online **out)
{
    if (!params || !out || params->warmup < 1 || params->window < 1 ||
        !(params->keep_percent > 0.0 && params->keep_percent <= 100.0) ||
        isnan(params->consensus) || params->budget < 1)
        return DC_STATUS_INVALID_ARG;
    dc_online *c = dc_calloc(1, sizeof *c);
    if (!c)
        return DC_STATUS_NOMEM;
    c->p = *params;
    c->threshold = NAN;
    c->warm_scores = dc_calloc(params->warmup, sizeof *c->warm_scores);
    if (!c->warm_scores) {
        dc_free(c);
        return DC_STATUS_NOMEM;
    }
    *out = c;
    return DC_STATUS_OK;
}

void dc_online_free(dc_online *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_traces; i++)
        dc_free(c->answers[i]);
    dc_free(c->answers);
    dc_free(c->weights);
    dc_free(c->votes);
    dc_free(c->warm_scores);
    dc_free(c);
}

static dc_status push_trace(dc_online *c, const char *answer, double weight, int votes)
{
    if (c->n_traces == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        char **a = dc_reallocarray(c->answers, cap, sizeof *a);
        if (!a)
            return DC_STATUS_NOMEM;
        c->answers = a;
        double *w = dc_reallocarray(c->weights, cap, sizeof *w);
        if (!w)
            return DC_STATUS_NOMEM;
        c->weights = w;
        unsigned char *v = dc_reallocarray(c->votes, cap, sizeof *v);
        if (!v)
            return DC_STATUS_NOMEM;
        c->votes = v;
        c->cap = cap;
    }
    char *copy = NULL;
    if (answer) {
        copy = dc_strdup(answer);
        if (!copy)
            return DC_STATUS_NOMEM;
    }
    c->answers[c->n_traces] = copy;
    c->weights[c->n_traces] = weight;
    c->votes[c->n_traces] = (unsigned char)(votes && dc_answer_present(answer));
    c->n_traces++;
    return DC_STATUS_OK;
}

int dc_online_warmup_done(const dc_online *c)
{
    return c->n_warm == c->p.warmup;
}

int dc_online_flagged(const dc_online *c, double lowest)
{
    return lowest < c->threshold;
}

dc_status dc_online_add_warmup(dc_online *c, const char *answer, double lowest)
{
    if (dc_online_warmup_done(c))
        return DC_STATUS_STATE;
    dc_status st = push_trace(c, answer, lowest, 1);
    if (st != DC_STATUS_OK)
        return st;
    c->warm_scores[c->n_warm++] = lowest;
    if (!dc_online_warmup_done(c))
        return DC_STATUS_OK;
    st = dc_percentile(c->warm_scores, c->n_warm, 100.0 - c->p.keep_percent, &c->threshold);
    if (st != DC_STATUS_OK)
        return st;
    /* Warmup traces vote under the same rule as later ones. */
    for (size_t i = 0; i < c->n_traces; i++)
        if (dc_online_flagged(c, c->weights[i]))
            c->votes[i] = 0;
    return DC_STATUS_OK;
}

dc_status dc_online_threshold(const dc_online *c, double *out)
{
    if (!dc_online_warmup_done(c))
        return DC_STATUS_STATE;
    *out = c->threshold;
    return DC_STATUS_OK;
}

dc_status dc_online_add_final(dc_online *c, const char *answer, double lowest, int stopped)
{
    if (!dc_online_warmup_done(c) || c->n_traces >= c->p.budget)
        return DC_STATUS_STATE;
    int votes = !stopped && !dc_online_flagged(c, lowest);
    dc_status st = push_trace(c, answer, lowest, votes);
    if (st != DC_STATUS_OK)
        return st;
    dc_vote_result v;
    st = dc_vote((const char *const *)c->answers, c->weights, c->votes, c->n_traces, &v);
    if (st != DC_STATUS_OK)
        return st;
    if (v.n_votes && v.share >= c->p.consensus)
        c->consensus_hit = 1;
    return DC_STATUS_OK;
}

int dc_online_done(const dc_online *c)
{
    return c->consensus_hit || c->n_traces >= c->p.budget;
}

size_t dc_online_traces(const dc_online *c)
{
    return c->n_traces;
}

dc_status dc_online_result(const dc_online *c, const char **answer, dc_vote_result *vote)
{
    dc_vote_result v;
    dc_status st = dc_vote((const char *const *)c->answers, c->weights, c->votes, c->n_traces, &v);
    if (st != DC_STATUS_OK)
        return st;
    if (answer)
        *answer = v.winner >= 0 ? c->answers[v.winner] : NULL;
    if (vote)
        *vote = v;
    return DC_STATUS_OK;
}

/* ---- window monitor ---- */

dc_status dc_online_window_init_with(dc_online_window *w, double threshold, size_t window)
{
    if (!w || window < 1)
        return DC_STATUS_INVALID_ARG;
    memset(w, 0, sizeof *w);
    w->ring = dc_calloc(window, sizeof *w->ring);
    if (!w->ring)
        return DC_STATUS_NOMEM;
    w->threshold = threshold;
    w->window = window;
    return DC_STATUS_OK;
}

dc_status dc_online_window_init(const dc_online *c, dc_online_window *w)
{
    if (!c || !dc_online_warmup_done(c))
        return DC_STATUS_STATE;
    return dc_online_window_init_with(w, c->threshold, c->p.window);
}

void dc_online_window_free(dc_online_window *w)
{
    if (!w)
        return;
    dc_free(w->ring);
    w->ring = NULL;
}

dc_online_decision dc_online_window_push(dc_online_window *w, double conf)
{
    size_t slot = w->pushed % w->window;
    if (w->pushed < w->window) {
        w->sum += conf;
    } else {
        w->sum = (w->sum - w->ring[slot]) + conf;
    }
    w->ring[slot] = conf;
    w->pushed++;
    if (w->pushed < w->window)
        return DC_ONLINE_CONTINUE;
    return (w->sum / (double)w->window) < w->threshold ? DC_ONLINE_STOP : DC_ONLINE_CONTINUE;
}

double dc_online_window_mean(const dc_online_window *w)
{
    return w->pushed < w->window ? NAN : w->sum / (double)w->window;
}
