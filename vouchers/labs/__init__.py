"""Lab import: a lab's CSV file of results, previewed row by row, then written and settled.

rows (read and judge a file; writes nothing), importer (write, settle; uploads and long-file jobs),
selectors (a job, with the reads it discloses), tasks, and the page (views, urls) and API (api).
"""
