#!/usr/bin/python3
"""Checks one `osprey train` HTML report (used by train_report_test.cc).

usage: check_train_report.py REPORT METADATA_JSON SECTIONS [RAW ESCAPED]
  SECTIONS: comma-separated section ids the report must have, and no others.
  RAW/ESCAPED: a string that must not appear in the file, and its escaped form that must.
Checks: tags balance (html.parser), each inline <svg> is well-formed XML, no URL or script
(nothing fetched when opened), every metric cell equals metadata.json's value printed with 6
significant digits (as the summary table prints it), ROC/PR titles carry the test AUC / AP,
and metadata.json's learning_curve is the chart of the learning-curve (or, k-means,
inertia-curve) section: one polyline point per value of each series, and for boosting rounds
with a validation series the marker at best_round. Bar charts leave room above the tallest
bar.
Prints OK and exits 0, or prints the problems and exits 1.
"""
import html.parser
import json
import re
import sys
import xml.etree.ElementTree as ET

VOID = {"meta", "br", "img", "input", "link", "hr", "col", "area", "base", "embed", "source",
        "track", "wbr"}


class Parser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.sections, self.cells, self.errors, self.urls = [], [], {}, [], []
        self.cell = None
        self.titles = []
        self.in_text = False

    def _attrs(self, tag, attrs):
        a = dict(attrs)
        for k in ("src", "href", "xlink:href", "action", "data"):
            if k in a:
                self.urls.append(a[k])
        if "style" in a and "url(" in a["style"]:
            self.urls.append(a["style"])
        if tag == "section":
            self.sections.append(a.get("id"))
        return a

    def handle_starttag(self, tag, attrs):
        a = self._attrs(tag, attrs)
        if tag in ("script", "iframe", "object", "embed", "link", "img"):
            self.errors.append("unexpected <%s>" % tag)
        if tag in VOID:
            return
        self.stack.append(tag)
        if tag == "td" and "data-metric" in a:
            self.cell = (a["data-split"], a["data-metric"])
            self.cells[self.cell] = ""
        if tag == "text":
            self.in_text = True
            self.titles.append("")

    def handle_startendtag(self, tag, attrs):
        self._attrs(tag, attrs)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append("unbalanced </%s> at %s (open: %s)" % (tag, self.getpos(),
                                                                      self.stack[-3:]))
            return
        self.stack.pop()
        if tag == "td":
            self.cell = None
        if tag == "text":
            self.in_text = False

    def handle_data(self, data):
        if self.cell:
            self.cells[self.cell] += data
        if self.in_text:
            self.titles[-1] += data


def check_bar_headroom(i, svg):
    """Bars (rects with a <title>) leave room under the plot frame's top edge."""
    rects = [e for e in svg.iter() if e.tag.endswith("rect")]
    bars = [e for e in rects if any(c.tag.endswith("title") for c in e)]
    if not rects or not bars:
        return []
    frame_top, frame_height = float(rects[0].get("y")), float(rects[0].get("height"))
    top = min(float(b.get("y")) for b in bars)
    if top < frame_top + 0.02 * frame_height:
        return ["svg %d: the tallest bar reaches the frame's top (y %s, frame %s)" % (
            i, top, frame_top)]
    return []


def check_learning_curve(text, meta, sections):
    """metadata.json's learning_curve against its section's chart."""
    curve = meta.get("learning_curve")
    section = "inertia-curve" if meta.get("kind") == "kmeans" else "learning-curve"
    if curve is None:
        return ["learning-curve section without metadata learning_curve"] if (
            section in sections) else []
    if section not in sections:
        return ["metadata has learning_curve, the report no %s section" % section]
    errors = []
    body = re.search(r'<section id="%s">(.*?)</section>' % section, text, re.S)
    svg = ET.fromstring(re.search(r"<svg\b.*?</svg>", body.group(1), re.S).group(0))
    ns = "{http://www.w3.org/2000/svg}"
    lines = svg.findall("polyline") + svg.findall(ns + "polyline")
    want = [curve["train"]] + ([curve["validation"]] if curve["validation"] else [])
    if len(lines) != len(want):
        errors.append("%s: %d polylines, expected %d" % (section, len(lines), len(want)))
    for line, values in zip(lines, want):
        points = line.get("points").split()
        finite = [v for v in values if v is not None]
        if len(points) != len(finite) or not finite:
            errors.append("%s: %d points for %d values" % (section, len(points), len(finite)))
    if curve["x"] == "round" and curve["validation"]:
        markers = [e for e in svg.iter() if e.get("class") == "marker"]
        if [m.get("data-x") for m in markers] != [str(curve["best_round"])]:
            errors.append("%s: markers %s, best_round %s" % (
                section, [m.get("data-x") for m in markers], curve["best_round"]))
        values = curve["validation"]
        best = min(range(len(values)), key=lambda i: values[i]) + 1
        if curve["metric"] in ("rmse", "mae", "logloss", "mlogloss") and best != curve["best_round"]:
            errors.append("best_round %s is not the validation minimum %s" % (
                curve["best_round"], best))
    return errors


def main():
    report, metadata_path, sections = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    text = open(report, encoding="utf-8").read()
    meta = json.load(open(metadata_path, encoding="utf-8"))
    p = Parser()
    p.feed(text)
    p.close()
    errors = list(p.errors)
    if p.stack:
        errors.append("unclosed tags: %s" % p.stack)
    if not text.startswith("<!DOCTYPE html>"):
        errors.append("no doctype")
    if sorted(p.sections) != sorted(sections):
        errors.append("sections %s, expected %s" % (p.sections, sections))
    if p.urls:
        errors.append("external references: %s" % p.urls[:5])
    if re.search("https?:", text, re.I):
        errors.append("a URL in the file")
    svgs = re.findall(r"<svg\b.*?</svg>", text, re.S)
    if not svgs and set(sections) - {"summary", "metrics", "confusion"}:
        errors.append("no svg")
    for i, svg in enumerate(svgs):
        try:
            errors += check_bar_headroom(i, ET.fromstring(svg))
        except ET.ParseError as e:
            errors.append("svg %d is not well-formed: %s" % (i, e))
    metrics = meta["metrics"]
    expected = {}
    for split in ("validation", "test"):
        for name, value in metrics.get(split, {}).items():
            expected[(split, name)] = "%.6g" % value
    for key, want in expected.items():
        got = p.cells.get(key)
        if got != want:
            errors.append("metric %s: report %r, metadata %r" % (key, got, want))
    for key, got in p.cells.items():
        if key not in expected and got != "-":
            errors.append("metric %s in the report only" % (key,))
    if "roc-pr" in sections:
        auc = "AUC %.6g" % metrics["test"]["roc_auc"]
        ap = "AP %.6g" % metrics["test"]["average_precision"]
        if not any(auc in t for t in p.titles) or not any(ap in t for t in p.titles):
            errors.append("ROC/PR titles lack %s / %s" % (auc, ap))
    errors += check_learning_curve(text, meta, sections)
    if len(sys.argv) > 5:
        raw, escaped = sys.argv[4], sys.argv[5]
        if raw in text:
            errors.append("unescaped %r in the report" % raw)
        if escaped not in text:
            errors.append("escaped %r not in the report" % escaped)
    if errors:
        print("\n".join(errors))
        return 1
    print("OK %d svg, %d metric cells" % (len(svgs), len(p.cells)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
