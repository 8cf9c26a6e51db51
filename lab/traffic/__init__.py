"""Traffic through the gateway: classify answers, sample, decide, draw."""
