"""The model server's parts: request limits, dynamic batching, metrics, and a load generator.

`python -m {{ cookiecutter.package_name }}.serve` puts them together (serve.py).
"""
