"""{{ cookiecutter.description }}"""

from {{ cookiecutter.package_name }} import quiet

quiet.configure()  # before any framework is imported: they read their log levels as they load
