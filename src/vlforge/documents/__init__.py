"""Document OCR: PDFs and LaTeX sources to page image + markdown pairs.

pdf      open/validate PDFs, rasterise pages, page text (pypdfium2)
archive  safe extraction of arXiv source tarballs
latex    LaTeX -> markdown (pandoc), math kept as LaTeX
align    markdown paragraphs -> PDF pages, boundary scores (Nougat's recipe)
nougat   the Nougat model through transformers, failure detection
"""
