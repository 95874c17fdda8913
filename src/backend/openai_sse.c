/* openai_sse.c - server-sent events, one "data:" event at a time
 * (the subset of the WHATWG event-stream format that OpenAI-style servers
 * use). */
#include "backend/openai_int.h"

#include <string.h>

void oai_sse_init(oai_sse *s, size_t max_line)
{
    memset(s, 0, sizeof *s);
    dc_buf_init(&s->line, max_line);
    dc_buf_init(&s->data, max_line);
}

void oai_sse_free(oai_sse *s)
{
    dc_buf_free(&s->line);
    dc_buf_free(&s->data);
}

void oai_sse_reset(oai_sse *s)
{
    dc_buf_reset(&s->line);
    dc_buf_reset(&s->data);
    s->has_data = 0;
    s->done = 0;
    s->cr = 0;
}

/* Hands the event over. "[DONE]" ends the stream and is not passed on. */
static int dispatch(oai_sse *s, oai_sse_event_fn fn, void *user)
{
    int stop = 0;
    if (s->has_data) {
        const char *d = s->data.data ? s->data.data : "";
        if (strcmp(d, "[DONE]") == 0)
            s->done = 1;
        else
            stop = fn(user, d, s->data.len);
    }
    dc_buf_reset(&s->data);
    s->has_data = 0;
    return stop;
}

/* One complete line. Returns nonzero when the callback asked to stop. */
static int take_line(oai_sse *s, oai_sse_event_fn fn, void *user, dc_status *st)
{
    const char *l = s->line.data ? s->line.data : "";
    size_t n = s->line.len;
    int stop = 0;
    if (n == 0) {
        stop = dispatch(s, fn, user);
    } else if (n >= 5 && memcmp(l, "data:", 5) == 0) {
        size_t off = (n > 5 && l[5] == ' ') ? 6 : 5;
        if (s->has_data)
            *st = dc_buf_putc(&s->data, '\n');
        if (*st == DC_STATUS_OK)
            *st = dc_buf_append(&s->data, l + off, n - off);
        s->has_data = 1;
    }
    /* ':' comments (keep-alive pings), event:, id:, retry: carry nothing we use. */
    dc_buf_reset(&s->line);
    return stop;
}

dc_status oai_sse_feed(oai_sse *s, const char *p, size_t n, oai_sse_event_fn fn, void *user,
                       dc_error *err)
{
    dc_status st = DC_STATUS_OK;
    size_t i = 0;
    while (i < n && !s->done) {
        char c = p[i];
        if (c == '\n' && s->cr) { /* the "\n" of "\r\n": the line already ended */
            s->cr = 0;
            i++;
            continue;
        }
        s->cr = 0;
        if (c == '\r' || c == '\n') {
            s->cr = c == '\r';
            i++;
            if (take_line(s, fn, user, &st))
                return DC_STATUS_OK;
            if (st != DC_STATUS_OK)
                break;
            continue;
        }
        const char *e = p + i;
        size_t run = 0;
        while (i + run < n && e[run] != '\r' && e[run] != '\n')
            run++;
        st = dc_buf_append(&s->line, e, run);
        if (st != DC_STATUS_OK)
            break;
        i += run;
    }
    if (st == DC_STATUS_LIMIT)
        return dc_error_set(err, st, "a server-sent-event line or event is longer than %zu bytes",
                            s->line.max);
    if (st != DC_STATUS_OK)
        return dc_error_set(err, st, "out of memory reading the event stream");
    return DC_STATUS_OK;
}

void oai_sse_finish(oai_sse *s, oai_sse_event_fn fn, void *user)
{
    if (s->done)
        return;
    dc_status st = DC_STATUS_OK;
    if (s->line.len > 0 && take_line(s, fn, user, &st))
        return;
    dispatch(s, fn, user);
}
