"""Writers for the evidence: Markdown tables, a self-contained HTML table, CSV."""

import csv
import html
import io


def md_cell(value):
    return str(value).replace("|", "\\|").replace("\n", " ")


def md_table(columns, rows):
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(md_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def csv_text(columns, rows):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return out.getvalue()


_STYLE = """body{font-family:sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #bbb;padding:3px 6px;
text-align:left;vertical-align:top}th{background:#eee;position:sticky;top:0}
td:nth-child(-n+2){white-space:nowrap}
td.passed{background:#e3f4e3}td.failed,td.error,td.missing,td.skipped,td.not-run{
background:#f8d7d7;font-weight:bold}code{font-size:12px}"""


def _html_table(columns, rows, result_column=None):
    parts = ["<table><thead><tr>%s</tr></thead><tbody>"
             % "".join("<th>%s</th>" % html.escape(c) for c in columns)]
    for row in rows:
        cells = []
        for index, value in enumerate(row):
            css = ""
            if index == result_column:
                css = " class=\"%s\"" % html.escape(str(value).replace(" ", "-"))
            cells.append("<td%s>%s</td>" % (css, html.escape(str(value))))
        parts.append("<tr>%s</tr>" % "".join(cells))
    parts.append("</tbody></table>")
    return "".join(parts)


def html_document(title, intro, tables):
    """One self-contained page: a title, paragraphs, and tables, each ``(heading, columns,
    rows, result column or None)``, whose result cells are coloured by their value."""
    parts = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
             "<title>%s</title><style>%s</style></head><body>" % (html.escape(title), _STYLE),
             "<h1>%s</h1>" % html.escape(title)]
    parts += ["<p>%s</p>" % html.escape(p) for p in intro]
    for heading, columns, rows, result_column in tables:
        if heading:
            parts.append("<h2>%s</h2>" % html.escape(heading))
        parts.append(_html_table(columns, rows, result_column))
    parts.append("</body></html>\n")
    return "".join(parts)


def html_page(title, intro, columns, rows, result_column=None):
    """A page with one table (see ``html_document``)."""
    return html_document(title, intro, [(None, columns, rows, result_column)])
