"""Research tools that measure what the data allow; never on the path of inference."""
