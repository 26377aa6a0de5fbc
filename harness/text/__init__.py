"""Text: normalization rule sets (scoring and targets), the character vocabulary built from
training text only, the CTC label codec.
"""
