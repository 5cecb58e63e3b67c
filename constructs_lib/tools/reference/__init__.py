"""Reference material generated from the code: the environment file's JSON Schema (for
editors) and the API reference in docs/ (for readers), each kept fresh by a test."""
