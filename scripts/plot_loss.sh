#!/bin/sh
# plot_loss.sh - an SVG plot of a training run's loss and validation loss
# per epoch, from the OUT.loss.csv that `model train` writes beside a model
# (header epoch,steps,train_loss,val_loss,tokens,seconds).
#
#   scripts/plot_loss.sh models/safety-deepconf-demo.loss.csv > docs/demo-model-loss.svg
set -eu
[ $# -eq 1 ] || { echo "usage: scripts/plot_loss.sh FILE.loss.csv > FILE.svg" >&2; exit 2; }
[ -r "$1" ] || { echo "plot_loss.sh: $1: cannot read" >&2; exit 1; }
awk -F, -v name="$(basename "$1")" '
NR == 1 {
    if ($1 != "epoch" || $3 != "train_loss" || $4 != "val_loss") {
        printf "plot_loss.sh: %s: line 1: expected the header epoch,steps,train_loss,val_loss,...\n", name > "/dev/stderr"
        bad = 1; exit 1
    }
    next
}
{
    if (NF < 4 || $1 !~ /^[0-9]+$/ || $3 !~ /^[0-9.]+$/ || $4 !~ /^[0-9.]+$/) {
        printf "plot_loss.sh: %s: line %d: expected epoch,steps,train_loss,val_loss,...\n", name, NR > "/dev/stderr"
        bad = 1; exit 1
    }
    n++; ep[n] = $1; tr[n] = $3; va[n] = $4
    if ($3 > top) top = $3
    if ($4 > top) top = $4
}
END {
    if (bad) exit 1
    if (n == 0) { printf "plot_loss.sh: %s: no epochs\n", name > "/dev/stderr"; exit 1 }
    W = 520; H = 320; L = 60; R = 20; T = 30; B = 50
    pw = W - L - R; ph = H - T - B
    # y from 0 to a round step above the largest loss
    step = 0.05; while (top / step > 8) step *= 2
    ymax = step * (int(top / step) + 1)
    printf "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n", W, H, W, H
    printf "<title>Loss per epoch (%s)</title>\n", name
    printf "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H
    printf "<text x=\"%d\" y=\"18\" text-anchor=\"middle\" font-size=\"14\">Loss per epoch: mean cross-entropy per answer token (nats)</text>\n", W / 2
    for (y = 0; y <= ymax + 1e-9; y += step) {
        py = T + ph - y / ymax * ph
        printf "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, py, L + pw, py
        printf "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n", L - 6, py + 4, y
    }
    for (i = 1; i <= n; i++) {
        px[i] = (n == 1) ? L + pw / 2 : L + (i - 1) / (n - 1) * pw
        printf "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%d</text>\n", px[i], T + ph + 18, ep[i]
    }
    printf "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">epoch</text>\n", L + pw / 2, H - 8
    printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", L, T + ph, L + pw, T + ph
    printf "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n", L, T, L, T + ph
    split("#1f77b4 #d62728", col, " ")
    for (s = 1; s <= 2; s++) {
        pts = ""
        for (i = 1; i <= n; i++) {
            v = (s == 1) ? tr[i] : va[i]
            pts = pts sprintf("%.1f,%.1f ", px[i], T + ph - v / ymax * ph)
        }
        printf "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"%s\"/>\n", col[s], pts
        for (i = 1; i <= n; i++) {
            v = (s == 1) ? tr[i] : va[i]
            printf "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.5\" fill=\"%s\"><title>epoch %d: %s loss %.4f</title></circle>\n", px[i], T + ph - v / ymax * ph, col[s], ep[i], (s == 1) ? "train" : "validation", v
        }
    }
    printf "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"3\" fill=\"%s\"/><text x=\"%d\" y=\"%d\">train</text>\n", L + pw - 110, T + 8, col[1], L + pw - 94, T + 12
    printf "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"3\" fill=\"%s\"/><text x=\"%d\" y=\"%d\">validation</text>\n", L + pw - 110, T + 26, col[2], L + pw - 94, T + 30
    printf "</svg>\n"
}' "$1"
