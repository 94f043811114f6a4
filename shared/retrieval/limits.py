"""What one search request may ask for: refused with a 400 naming the limit before any
search runs, so that a large but valid request never ends as "search failed".

Each limit keeps a request well inside what the backends take: the filter translator
(which recurses once per and/or/not), SQLite (at most 32,766 bound values and 2,000 result
columns per statement) and Azure AI Search's request sizes; and far above what a client
needs: the index has a dozen fields, and long lists of values belong in one
`search.in(field, 'a,b,c')`.
"""

# Characters in one OData filter, refused before it is parsed (parsing is linear, but not free):
# 500 conditions of a few dozen characters fit, and long lists belong in search.in.
MAX_FILTER_CHARS = 32_768
# Parentheses inside each other, counted before parsing: far more than MAX_FILTER_DEPTH needs,
# and far less than what makes the parser's stack grow without bound.
MAX_FILTER_PARENTHESES = 64
MAX_FILTER_OPERATORS = 500  # and, or, not in one OData filter
# Groups nested inside each other: an and inside an or inside an and..., a not, an any/all.
# A chain of one operator (a or b or c ...) is one level. SQLite's parser stops near 30.
MAX_FILTER_DEPTH = 16
MAX_FILTER_VALUES = 5_000  # constants in one filter, the values of its search.in calls included
MAX_LISTED_FIELDS = 50  # entries in select_fields, highlight_fields or facets
MAX_METADATA_FILTER_VALUES = 200  # values in one source's metadata_filters (POST /api/v1/chat/complete)
