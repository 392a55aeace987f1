# Draws docs/images/adapter_placement.svg (hand-written SVG, no dependencies):
#   python3 docs/images/make_adapter_placement.py
FROZEN = "#dfe3ea"; ADAPTER = "#f4a259"; NORM = "#9bd1a8"; S = "#333"
W, BH, GAP = 200, 30, 14
out = []
def box(x, y, text, fill, dash=False, bold=False):
    d = ' stroke-dasharray="5,3"' if dash else ""
    out.append(f'<rect x="{x}" y="{y}" width="{W}" height="{BH}" rx="6" fill="{fill}" stroke="{S}"{d}/>')
    fw = ' font-weight="bold"' if bold else ""
    out.append(f'<text x="{x+W/2}" y="{y+BH/2+5}" text-anchor="middle"{fw}>{text}</text>')
def arrow(x1, y1, x2, y2):
    out.append(f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{S}" marker-end="url(#a)"/>')
def column(x0, title, subtitle, steps):
    cx = x0 + W / 2
    out.append(f'<text x="{cx}" y="30" text-anchor="middle" font-size="16" font-weight="bold">{title}</text>')
    out.append(f'<text x="{cx}" y="48" text-anchor="middle" font-size="12">{subtitle}</text>')
    out.append(f'<text x="{cx}" y="76" text-anchor="middle">x</text>')
    y = 82
    branch = y
    for kind, label in steps:
        arrow(cx, y, cx, y + GAP); y += GAP
        if kind == "split":  # residual branch starts here
            branch = y - GAP / 2
            y -= GAP
            continue
        if kind == "add":
            out.append(f'<circle cx="{cx}" cy="{y+11}" r="11" fill="white" stroke="{S}"/>')
            out.append(f'<text x="{cx}" y="{y+16}" text-anchor="middle" font-size="16">+</text>')
            rx = x0 - 16
            out.append(f'<polyline points="{cx},{branch} {rx},{branch} {rx},{y+11} {cx-13},{y+11}" fill="none" stroke="{S}" stroke-dasharray="3,3" marker-end="url(#a)"/>')
            y += 22
            continue
        fill = {"frozen": FROZEN, "adapter": ADAPTER, "norm": NORM}[kind]
        box(x0, y, label, fill, dash=kind == "norm", bold=kind == "adapter")
        y += BH
    arrow(cx, y, cx, y + GAP)
    out.append(f'<text x="{cx}" y="{y+GAP+16}" text-anchor="middle">output</text>')
    return y + GAP + 20
post = [("split", ""), ("frozen", "multi-head self-attention"), ("frozen", "dropout"),
        ("adapter", "adapter"), ("add", ""), ("norm", "layer norm"),
        ("split", ""), ("frozen", "feed-forward (2 dense)"), ("frozen", "dropout"),
        ("adapter", "adapter"), ("add", ""), ("norm", "layer norm")]
pre = [("split", ""), ("norm", "layer norm"), ("frozen", "multi-head self-attention"),
       ("frozen", "dropout"), ("adapter", "adapter"), ("add", ""),
       ("split", ""), ("norm", "layer norm"), ("frozen", "feed-forward (2 dense)"),
       ("frozen", "dropout"), ("adapter", "adapter"), ("add", "")]
h1 = column(50, "post-LN block", "BERT, RoBERTa, DistilBERT, ELECTRA, BART", post)
h2 = column(320, "pre-LN block", "GPT-2, OPT (normalize_first=True)", pre)
# adapter inset
x0, y0 = 590, 90
out.append(f'<text x="{x0+W/2}" y="30" text-anchor="middle" font-size="16" font-weight="bold">inside an adapter</text>')
out.append(f'<text x="{x0+W/2}" y="48" text-anchor="middle" font-size="12">h: hidden size d, bottleneck b</text>')
out.append(f'<text x="{x0+W/2}" y="76" text-anchor="middle">h</text>')
cx = x0 + W / 2
y = y0 - 8
for label in ["down-projection d → b", "nonlinearity (houlsby: GELU)", "up-projection b → d"]:
    arrow(cx, y, cx, y + GAP); y += GAP
    box(x0, y, label, ADAPTER); y += BH
arrow(cx, y, cx, y + GAP); y += GAP
out.append(f'<circle cx="{cx}" cy="{y+11}" r="11" fill="white" stroke="{S}"/>')
out.append(f'<text x="{cx}" y="{y+16}" text-anchor="middle" font-size="16">+</text>')
out.append(f'<polyline points="{cx},{y0-4} {x0-16},{y0-4} {x0-16},{y+11} {cx-13},{y+11}" fill="none" stroke="{S}" stroke-dasharray="3,3" marker-end="url(#a)"/>')
y += 22
arrow(cx, y, cx, y + GAP)
out.append(f'<text x="{cx}" y="{y+GAP+16}" text-anchor="middle">h + up(f(down(h)))</text>')
out.append(f'<text x="{cx}" y="{y+GAP+34}" text-anchor="middle" font-size="12">(projections start near 0)</text>')
# legend
ly = y + 80
for i, (fill, dash, text) in enumerate([(FROZEN, False, "frozen (pretrained)"), (ADAPTER, False, "trained: adapter"),
                                        (NORM, True, "layer norm: trained (houlsby), frozen (pfeiffer)")]):
    yy = ly + i * 26
    d = ' stroke-dasharray="5,3"' if dash else ""
    out.append(f'<rect x="{x0}" y="{yy}" width="22" height="16" rx="3" fill="{fill}" stroke="{S}"{d}/>')
    out.append(f'<text x="{x0+30}" y="{yy+13}" font-size="12">{text}</text>')
H = max(h1, h2, ly + 80)
svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="940" height="{H}" viewBox="0 0 940 {H}" '
       'font-family="Helvetica, Arial, sans-serif" font-size="13">\n'
       '<title>Where adapters sit in post-LN and pre-LN transformer blocks</title>\n'
       '<defs><marker id="a" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
       f'<path d="M0,0 L10,5 L0,10 z" fill="{S}"/></marker></defs>\n'
       '<rect width="100%" height="100%" fill="white"/>\n' + "\n".join(out) + "\n</svg>\n")
open(__import__("os").path.join(__import__("os").path.dirname(__file__), "adapter_placement.svg"), "w").write(svg)
