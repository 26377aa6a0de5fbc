"""Configuration: typed settings (one line each), durations, YAML with line numbers, suite files ->
frozen run specs with stable ids.
"""
