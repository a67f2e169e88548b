"""The LLM-assisted HLS debugging loop (``llm2hls debug``): harness -> model -> fix -> harness."""
