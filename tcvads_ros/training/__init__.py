"""Offline training and evaluation of TCVADS (data, losses, metrics, training and evaluation tools).

Run the tools from the repository root, e.g. ``python training/train.py`` and
``python training/evaluate.py``; tests import the modules as ``training.<module>``.
"""
