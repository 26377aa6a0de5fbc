"""Training: the accelerate loop, lr schedules, resumable checkpoints, guards (non-finite loss,
blank collapse).
"""
