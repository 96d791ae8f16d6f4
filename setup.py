"""Which packages the distribution holds; everything else is in pyproject.toml.

The shipped resources stay in the repository's top-level folders (the single source of truth)
and are mapped into the package as ``helo_stream._resources.<folder>``, so a wheel installs them
under ``helo_stream/_resources/``; their files are listed in pyproject.toml's package-data.
(pyproject.toml alone cannot add mapped packages to ``packages.find``.)
"""

from setuptools import find_namespace_packages, setup

RESOURCES = ("devices", "pipelines", "recordings", "checkpoints")

setup(
    packages=[
        *find_namespace_packages(include=["helo_stream*"]),  # as packages.find did
        *(f"helo_stream._resources.{folder}" for folder in RESOURCES),
    ],
    package_dir={f"helo_stream._resources.{folder}": folder for folder in RESOURCES},
)
