"""The browser tests' harness: headless Chromium over the DevTools protocol (see chromium.py)."""
