"""Format parsers and document tools: what a file holds, independent of any corpus job.

pdf          open/validate PDFs, rasterise pages, page text (pypdfium2)
archive      safe extraction of arXiv source tarballs
papers       which arXiv-style paper (LaTeX source + PDF) an input file belongs to
latex        LaTeX -> markdown (pandoc), math kept as LaTeX
references   \\cite and \\ref resolved to what the PDF prints (.bbl, .aux, counters, PDF text)
align        markdown paragraphs -> PDF pages, boundary scores (Nougat's recipe)
page_stages  per_page: per_sample whose ledger rows name the page ("page=N")
nougat       the Nougat model through transformers, failure detection
epub         EPUB container, package document, spine and navigation
mathml       MathML formulas -> LaTeX (pandoc), for page texts
notebook     Jupyter notebooks (nbformat 3 and 4) and The Stack style dumps
captions     image-caption inputs: LLaVA/ShareGPT4V, COCO, img2dataset, caption and class folders
sft          SFT records (LLaVA/ShareGPT, DeepSeek-VL, ms-swift) from JSONL and JSON files
lines        line-oriented files read by byte range, as tasks slice them
"""
