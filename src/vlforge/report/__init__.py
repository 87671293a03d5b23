"""`vlforge report OUT`: one HTML page that shows what a job made and what it dropped.

    collect   OUT's stats.json, reject ledger, shard indexes -> the report's numbers
    samples   a seeded random sample of accepted pairs, read from the shards by offset; their
              images beside the page as stored (small ones) or as thumbnails
    plots     histograms and the script bar chart, drawn as SVG text put inside the page
    page      the numbers + plots + samples -> OUT/report.html (template: report.html.j2),
              the pairs' images in OUT/report/

Everything but the timings is a function of the job's output, so two runs of the same job
write the same report; the timings sit in elements of class `timing` alone.
"""

from vlforge.report.page import write_report

__all__ = ["write_report"]
