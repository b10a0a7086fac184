"""Document-camera stills (高拍仪): sniff, find the page, deskew and crop, judge, compose.

Modules: ``sniff`` (header checks before any decode), ``codec`` (decode/encode), ``detect``
(page finding), ``geometry`` (corner rule, homography), ``quality`` (metrics and reason codes),
``pipeline`` (the entry points), ``compose`` (ID-card page, PDF), ``pool`` (the async process
pool); recognition: ``ocr`` (PP-OCR through rapidocr, one engine per worker), ``words`` (reading
text, rows and numbers), ``portrait`` (the photo on an ID card's portrait side), ``recognise``
(the class, an ID card's fields, the boxes to mask). The CLI is ``python -m window_server.documents``; see docs/documents.md.
"""
