/* report_cases.c - report.html's cases: every category's predictions with
 * their prompt, confidence and traces, and a per-token view of a trace,
 * embedded as one JSON blob and drawn by a small plain script.
 *
 * Large runs stay usable: at most max_cases cases per category are
 * embedded (wrong ones first; the rest are counted), each trace's text is
 * cut at max_text bytes and all texts together at text_budget, and tokens
 * are embedded only for the first token_cases cases of each category, at
 * most max_tokens in all. The traces file is streamed (records.c), and only
 * the lines of embedded instances are decoded. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safety/analysis_internal.h"
#include "util/buf.h"
#include "util/jsonw.h"

/* The flagged category first. */
static const sdc_category case_order[5] = {
    SDC_CATEGORY_UNCERTAIN_COMPLIANCE, SDC_CATEGORY_CONFIDENT_COMPLIANCE,
    SDC_CATEGORY_UNCERTAIN_REFUSAL, SDC_CATEGORY_CONFIDENT_REFUSAL, SDC_CATEGORY_NO_ANSWER};

#define PROMPT_MAX 2000

/* ---- the selection ---- */

typedef struct wanted {
    const char *id;     /* borrowed from the predictions */
    const char *prompt; /* the first one recorded; may be NULL */
    int tokens;         /* embed its traces' tokens */
} wanted;

typedef struct selection {
    size_t *cases; /* indexes into the predictions, by category in case_order */
    size_t n_cases;
    size_t total[5], shown[5];
    wanted *w; /* sorted by id, unique */
    size_t n_w;
} selection;

static sdc_category category_of(const sdc_prediction *p, double theta)
{
    return p->failed ? SDC_CATEGORY_NO_ANSWER : sdc_categorize(p->refused, p->confidence, theta);
}

static int cmp_wanted(const void *a, const void *b)
{
    return strcmp(((const wanted *)a)->id, ((const wanted *)b)->id);
}

/* Sorts and merges the wanted instances. */
static void unique_wanted(selection *s)
{
    qsort(s->w, s->n_w, sizeof *s->w, cmp_wanted);
    size_t k = 0;
    for (size_t i = 0; i < s->n_w; i++) {
        if (k && !strcmp(s->w[k - 1].id, s->w[i].id)) {
            s->w[k - 1].tokens |= s->w[i].tokens;
            if (!s->w[k - 1].prompt)
                s->w[k - 1].prompt = s->w[i].prompt;
            continue;
        }
        s->w[k++] = s->w[i];
    }
    s->n_w = k;
}

static dc_status select_cases(const sdc_prediction *p, size_t n, const sdc_analysis_params *ap,
                              selection *s)
{
    memset(s, 0, sizeof *s);
    s->cases = dc_calloc(n + 1, sizeof *s->cases);
    s->w = dc_calloc(n + 1, sizeof *s->w);
    if (!s->cases || !s->w)
        return DC_STATUS_NOMEM;
    for (size_t i = 0; i < n; i++)
        s->total[category_of(&p[i], ap->theta)]++;
    for (int k = 0; k < 5; k++) {
        sdc_category c = case_order[k];
        /* wrong predictions first, each pass in file order */
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < n && s->shown[c] < ap->max_cases; i++) {
                if (category_of(&p[i], ap->theta) != c || (pass == 0) != (p[i].correct == 0))
                    continue;
                s->w[s->n_w++] =
                    (wanted){p[i].instance_id, p[i].prompt, s->shown[c] < ap->token_cases};
                s->cases[s->n_cases++] = i;
                s->shown[c]++;
            }
    }
    unique_wanted(s);
    return DC_STATUS_OK;
}

static void selection_free(selection *s)
{
    dc_free(s->cases);
    dc_free(s->w);
}

static const wanted *find_wanted(const selection *s, const char *id)
{
    wanted key = {id, NULL, 0};
    return bsearch(&key, s->w, s->n_w, sizeof *s->w, cmp_wanted);
}

static int want_instance(void *user, const char *id)
{
    return find_wanted(user, id) != NULL;
}

/* ---- JSON ---- */

/* A number with 4 significant digits (the page shows 3), null for NaN. */
static void num(jw *w, double x)
{
    char t[32];
    if (isnan(x) || isinf(x))
        snprintf(t, sizeof t, "null");
    else
        snprintf(t, sizeof t, "%.4g", x);
    jw_raw(w, t);
}

static void kv_num(jw *w, const char *k, double x)
{
    jw_key(w, k);
    num(w, x);
}

/* At most max bytes of s, cut at a character boundary. */
static size_t cut_len(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n <= max)
        return n;
    while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
        max--;
    return max;
}

static void write_case(jw *w, const sdc_prediction *p, double theta)
{
    jw_obj_begin(w);
    jw_kv_str(w, "id", p->instance_id);
    jw_kv_str(w, "s", p->strategy);
    jw_kv_str(w, "c", sdc_category_name(category_of(p, theta)));
    jw_kv_str(w, "label", sdc_label_name(p->label));
    jw_kv_str(w, "harm", p->harm_category ? p->harm_category : "");
    jw_kv_str(w, "answer", p->answer);
    jw_kv_tristate(w, "correct", p->correct);
    jw_kv_bool(w, "failed", p->failed);
    kv_num(w, "conf", p->confidence);
    kv_num(w, "beta", p->consensus);
    kv_num(w, "pbar", p->mean_prob);
    kv_num(w, "tconf", p->trace_conf);
    jw_kv_uint(w, "used", p->traces_used);
    jw_kv_uint(w, "budget", p->budget);
    jw_kv_uint(w, "tokens", p->tokens_generated);
    jw_key(w, "tr");
    jw_arr_begin(w);
    for (size_t i = 0; i < p->n_traces; i++) {
        const sdc_prediction_trace *t = &p->traces[i];
        jw_arr_begin(w);
        jw_uint(w, t->index);
        jw_str(w, t->stop);
        jw_uint(w, t->tokens);
        jw_str(w, t->answer);
        jw_bool(w, t->voted);
        jw_arr_end(w);
    }
    jw_arr_end(w);
    jw_obj_end(w);
}

typedef struct budget {
    size_t text, tokens; /* left */
} budget;

static void write_trace(jw *w, const sdc_trace_record *t, int tokens, const sdc_analysis_params *ap,
                        budget *bg)
{
    size_t cap = bg->text >= ap->max_text ? ap->max_text : 120;
    size_t len = cut_len(t->text, cap);
    bg->text = bg->text > len ? bg->text - len : 0;
    jw_obj_begin(w);
    jw_kv_str(w, "id", t->instance_id);
    jw_kv_uint(w, "i", t->index);
    jw_kv_str(w, "stop", t->stop);
    jw_kv_uint(w, "n", t->n_tokens);
    jw_kv_str(w, "answer", t->answer);
    kv_num(w, "lowest", t->lowest);
    jw_key(w, "text");
    jw_strn(w, t->text, len);
    jw_kv_bool(w, "cut", len < strlen(t->text));
    if (tokens && t->n_saved && t->n_saved <= bg->tokens) {
        bg->tokens -= t->n_saved;
        jw_key(w, "tt");
        jw_arr_begin(w);
        for (size_t i = 0; i < t->n_saved; i++)
            jw_str(w, t->token_text[i]);
        jw_arr_end(w);
        jw_key(w, "tc");
        jw_arr_begin(w);
        for (size_t i = 0; i < t->n_saved; i++)
            num(w, t->token_conf[i]);
        jw_arr_end(w);
    }
    jw_obj_end(w);
}

/* The embedded instances' traces, streamed from the traces file
 * (traces.jsonl.zst or traces.jsonl; records.c reads both). A missing
 * file (an old or moved run) leaves the cases without traces and says so. */
static dc_status write_traces(jw *w, const selection *s, const sdc_analysis_params *ap,
                              const char **missing)
{
    *missing = NULL;
    jw_key(w, "traces");
    jw_arr_begin(w);
    if (!ap->traces_path) {
        jw_arr_end(w);
        return DC_STATUS_OK;
    }
    sdc_trace_reader_params rp = sdc_trace_reader_default_params();
    rp.k = ap->top_k;
    rp.want = want_instance;
    rp.user = (void *)s;
    sdc_trace_reader *r;
    dc_error err = {0};
    dc_status st = sdc_trace_reader_open(ap->traces_path, &rp, &r, &err);
    if (st != DC_STATUS_OK) {
        jw_arr_end(w);
        *missing = "the run's traces file could not be read";
        return st == DC_STATUS_NOMEM ? st : DC_STATUS_OK;
    }
    budget bg = {ap->text_budget, ap->max_tokens};
    sdc_trace_record t;
    while ((st = sdc_trace_reader_next(r, &t, &err)) == DC_STATUS_OK)
        write_trace(w, &t, find_wanted(s, t.instance_id)->tokens, ap, &bg);
    sdc_trace_reader_close(r);
    jw_arr_end(w);
    if (st == DC_STATUS_NOMEM)
        return st;
    if (st != DC_STATUS_NOT_FOUND)
        *missing = "the run's traces file has a bad line or zstd frame; the traces after it are "
                   "left out";
    return DC_STATUS_OK;
}

static void write_header(jw *w, const sdc_prediction *p, size_t n, const selection *s,
                         const sdc_analysis_params *ap)
{
    kv_num(w, "theta", ap->theta);
    jw_kv_uint(w, "window", ap->window);
    jw_kv_uint(w, "k", ap->top_k);
    jw_key(w, "cats");
    jw_arr_begin(w);
    for (int k = 0; k < 5; k++) {
        sdc_category c = case_order[k];
        jw_obj_begin(w);
        jw_kv_str(w, "id", sdc_category_name(c));
        jw_kv_str(w, "title", sdc_category_title(c));
        jw_kv_uint(w, "n", s->total[c]);
        jw_kv_uint(w, "shown", s->shown[c]);
        jw_kv_bool(w, "flag", c == SDC_CATEGORY_UNCERTAIN_COMPLIANCE);
        jw_obj_end(w);
    }
    jw_arr_end(w);
    jw_key(w, "strategies");
    jw_arr_begin(w);
    for (size_t i = 0; i < n; i++) {
        size_t j = 0;
        while (j < i && strcmp(p[j].strategy, p[i].strategy) != 0)
            j++;
        if (j == i)
            jw_str(w, p[i].strategy);
    }
    jw_arr_end(w);
    jw_key(w, "prompts");
    jw_obj_begin(w);
    for (size_t i = 0; i < s->n_w; i++) {
        jw_key(w, s->w[i].id);
        const char *pr = s->w[i].prompt;
        if (pr)
            jw_strn(w, pr, cut_len(pr, PROMPT_MAX));
        else
            jw_null(w);
    }
    jw_obj_end(w);
}

/* The blob's JSON with every '<' as \u003c, so that no "</script>" (nor
 * "<!--") in a prompt or a trace can end the script element. */
static void put_script_safe(dc_buf *b, const char *json)
{
    for (const char *c = json; *c; c++) {
        if (*c == '<')
            dc_buf_puts(b, "\\u003c");
        else
            dc_buf_putc(b, *c);
    }
}

/* ---- the page's part ---- */

static const char cases_css[] =
    "<style>#cases-controls{position:sticky;top:0;background:#fff;padding:0.5em 0;"
    "border-bottom:1px solid #ccc;z-index:1}#cases-controls label{margin-right:1em}"
    "section.cat h3{margin-top:1.5em}section.cat.flag h3{color:#b00}"
    "div.case{border:1px solid #ccc;border-radius:4px;margin:0.6em 0;padding:0.4em 0.8em}"
    "div.case.wrong{border-left:5px solid #d62728}div.case .meta{font-size:13px;color:#333}"
    "div.case pre{white-space:pre-wrap;word-break:break-word;background:#f8f8f8;padding:0.4em;"
    "margin:0.3em 0;font-size:12px;max-height:20em;overflow:auto}"
    "table.traces td,table.traces th{font-size:12px;padding:1px 6px}table.traces td:last-child"
    "{text-align:left;max-width:640px}div.case pre,div.tokview{text-align:left}"
    "div.tokview{font-family:monospace;font-size:12px;line-height:1.7;white-space:pre-wrap;"
    "word-break:break-word;border:1px solid #999;padding:0.5em;margin:0.3em 0}"
    "div.tokview span.w{outline:2px solid #000}div.tokview span.after{opacity:0.35}"
    "div.tokview .stopmark{background:#000;color:#fff;padding:0 4px;margin:0 2px}"
    "span.legend{display:inline-block;width:8em;height:0.9em;vertical-align:middle;"
    "background:linear-gradient(90deg,hsl(0,75%,72%),hsl(60,75%,72%),hsl(120,75%,72%))}"
    "</style>\n";

/* Plain script, no libraries: builds the sections from the blob, filters
 * by category, strategy and text (also from the URL's #cat=..&strategy=..
 * &q=..&tokens=STRATEGY/ID/TRACE, which the tests use), and draws a trace's tokens
 * coloured by their confidence with the online stop's window outlined. */
static const char *const cases_js[] = {
    "<script>\n(function(){\n"
    "var D=JSON.parse(document.getElementById('case-data').textContent);\n"
    "var T={};D.traces.forEach(function(t){var k=t.id+'/'+t.i;if(!T[k])T[k]=t;});\n"
    "function el(g,c,x){var e=document.createElement(g);if(c)e.className=c;"
    "if(x!=null)e.textContent=x;return e;}\n"
    "function f(x){return x==null?'n/a':Number(x).toFixed(3);}\n"
    "var root=document.getElementById('cases'),fc=document.getElementById('f-cat'),"
    "fs=document.getElementById('f-strategy'),fq=document.getElementById('f-q'),"
    "cnt=document.getElementById('case-count');\n"
    "D.cats.forEach(function(c){var "
    "o=el('option',null,c.title);o.value=c.id;fc.appendChild(o);});\n"
    "D.strategies.forEach(function(s){var o=el('option',null,s);o.value=s;fs.appendChild(o);});\n",
    "function tokview(t,stop,used){var v=el('div','tokview');var lo=Infinity,hi=-Infinity;\n"
    " t.tc.forEach(function(c){if(c!=null){lo=Math.min(lo,c);hi=Math.max(hi,c);}});\n"
    " var w0=-1,w1=-1;if(stop==='confidence'){w1=used;w0=Math.max(0,used-D.window);}\n"
    " t.tt.forEach(function(x,i){var s=el('span',null,x);var c=t.tc[i];\n"
    "  var h=c==null||hi<=lo?60:120*(c-lo)/(hi-lo);s.style.background='hsl('+h.toFixed(0)"
    "+',75%,72%)';\n"
    "  s.title='token '+i+': confidence '+(c==null?'n/a':c.toFixed(3));\n"
    "  if(i>=w0&&i<w1)s.className='w';if(w1>=0&&i>=w1)s.className='after';v.appendChild(s);\n"
    "  if(i===w1-1)v.appendChild(el('span','stopmark','online stop'));});\n"
    " var l=el('p','meta','token confidence (top-'+D.k+'): ');l.appendChild(el('span','legend'));\n"
    " l.appendChild(document.createTextNode(' low '+f(lo)+' \\u2192 high '+f(hi)+(w1>=0?"
    "'; outlined: the last '+D.window+'-token window, where the online stop fired; faded: "
    "what it did not need':'')));\n"
    " var d=el('div','tokwrap');d.appendChild(l);d.appendChild(v);return d;}\n",
    "function caseDiv(k){var d=el('div','case'+(k.correct===false?' wrong':''));\n"
    " d.dataset.cat=k.c;d.dataset.strategy=k.s;d.id='case-'+k.s+'-'+k.id;\n"
    " var pr=D.prompts[k.id];var text=[k.id,pr||'',k.harm,k.answer||''];\n"
    " d.appendChild(el('strong',null,k.id+' \\u00b7 '+k.s));\n"
    " d.appendChild(el('div','meta','label '+k.label+' \\u00b7 harm category '+(k.harm||'-')+"
    "' \\u00b7 answer '+(k.answer||'none')+(k.failed?' (failed)':'')+' \\u00b7 '+"
    "(k.correct===null?'not judged':k.correct?'correct':'WRONG')));\n"
    " d.appendChild(el('div','meta','confidence '+f(k.conf)+' = consensus \\u03b2 '+f(k.beta)+"
    "' \\u00d7 mean prob p\\u0304 '+f(k.pbar)+' \\u00b7 trace confidence '+f(k.tconf)+"
    "' \\u00b7 traces '+k.used+'/'+k.budget+' \\u00b7 tokens '+k.tokens));\n"
    " d.appendChild(el('pre','prompt',pr==null?'(prompt not recorded)':pr));\n"
    " var tb=el('table','traces');tb.innerHTML='<tr><th>trace</th><th>answer</th><th>stop"
    "</th><th>tokens</th><th>trace conf</th><th>voted</th><th>text</th></tr>';\n"
    " k.tr.forEach(function(r){var t=T[k.id+'/'+r[0]];var tr=el('tr');\n"
    "  [r[0],r[3]||'none',r[1],r[2],t?f(t.lowest):'n/a',r[4]?'yes':'no'].forEach(function(x){"
    "tr.appendChild(el('td',null,String(x)));});\n"
    "  var td=el('td');tr.appendChild(td);tb.appendChild(tr);if(!t){td.textContent='-';return;}\n"
    "  text.push(t.text);var det=el('details');det.appendChild(el('summary',null,"
    "(t.text.length>60?t.text.slice(0,60)+'\\u2026':t.text)||'(empty)'));\n"
    "  det.appendChild(el('pre',null,t.text+(t.cut?'\\n[\\u2026 cut]':'')));\n"
    "  if(t.tt){var b=el('button','tokbtn','per-token view');b.dataset.key=k.s+'/'+k.id+'/'+r[0];\n"
    "   b.onclick=function(){if(!b.nextSibling)det.appendChild(tokview(t,r[1],r[2]));};"
    "det.appendChild(b);}\n"
    "  td.appendChild(det);});\n"
    " d.appendChild(tb);d.dataset.text=text.join(' ').toLowerCase();return d;}\n",
    "var secs=[];D.cats.forEach(function(c){var s=el('section','cat'+(c.flag?' flag':''));\n"
    " s.dataset.cat=c.id;s.appendChild(el('h3',null,c.title+': '+c.n+' case'+(c.n===1?'':'s')+"
    "(c.shown<c.n?' ('+c.shown+' embedded, '+(c.n-c.shown)+' more not embedded)':'')));\n"
    " root.appendChild(s);secs.push(s);});\n"
    "D.cases.forEach(function(k){root.querySelector('section[data-cat=\"'+k.c+'\"]')"
    ".appendChild(caseDiv(k));});\n",
    "function apply(){var c=fc.value,s=fs.value,q=fq.value.toLowerCase(),n=0;\n"
    " root.querySelectorAll('div.case').forEach(function(d){var ok=(!c||d.dataset.cat===c)&&"
    "(!s||d.dataset.strategy===s)&&(!q||d.dataset.text.indexOf(q)>=0);d.hidden=!ok;n+=ok;});\n"
    " secs.forEach(function(x){x.hidden=!!c&&x.dataset.cat!==c;});\n"
    " cnt.textContent=n+' of '+D.cases.length+' embedded cases shown';cnt.dataset.n=n;}\n"
    "fc.onchange=fs.onchange=fq.oninput=apply;\n"
    "var h=new URLSearchParams(location.hash.slice(1));if(h.get('cat'))fc.value=h.get('cat');\n"
    "if(h.get('strategy'))fs.value=h.get('strategy');if(h.get('q'))fq.value=h.get('q');\n"
    "apply();\n"
    "if(h.get('tokens')){var b=root.querySelector('button[data-key=\"'+h.get('tokens')+'\"]');\n"
    " if(b){b.parentNode.open=true;b.click();}}\n"
    "document.body.dataset.casesReady='1';\n"
    "})();\n</script>\n"};

dc_status an_report_cases(dc_buf *b, const sdc_prediction *p, size_t n,
                          const sdc_analysis_params *ap)
{
    selection s;
    dc_status st = select_cases(p, n, ap, &s);
    dc_buf json;
    dc_buf_init(&json, 0);
    jw w;
    jw_init(&w, &json);
    const char *missing = NULL;
    if (st == DC_STATUS_OK) {
        jw_obj_begin(&w);
        write_header(&w, p, n, &s, ap);
        jw_key(&w, "cases");
        jw_arr_begin(&w);
        for (size_t i = 0; i < s.n_cases; i++)
            write_case(&w, &p[s.cases[i]], ap->theta);
        jw_arr_end(&w);
        st = write_traces(&w, &s, ap, &missing);
        jw_obj_end(&w);
    }
    if (st == DC_STATUS_OK && json.st != DC_STATUS_OK)
        st = json.st;
    if (st == DC_STATUS_OK) {
        dc_buf_puts(b, cases_css);
        dc_buf_printf(b,
                      "<h2>Cases</h2>\n<p>Each prediction by category, the flagged one first "
                      "and wrong predictions first within each; at most %zu per category are "
                      "embedded. Open a trace for its text and, where its tokens were saved, "
                      "the per-token view.",
                      ap->max_cases);
        if (missing)
            dc_buf_printf(b, " <strong>%s.</strong>", missing);
        dc_buf_puts(b, "</p>\n<div id='cases-controls'><label>category <select id='f-cat'>"
                       "<option value=''>all</option></select></label><label>strategy "
                       "<select id='f-strategy'><option value=''>all</option></select></label>"
                       "<label>search <input id='f-q' type='search' size='30'></label>"
                       "<span id='case-count'></span></div>\n<div id='cases'></div>\n"
                       "<script type='application/json' id='case-data'>");
        put_script_safe(b, json.data ? json.data : "{}");
        dc_buf_puts(b, "</script>\n");
        for (size_t i = 0; i < sizeof cases_js / sizeof cases_js[0]; i++)
            dc_buf_puts(b, cases_js[i]);
    }
    dc_buf_free(&json);
    selection_free(&s);
    return st;
}
