"""The Vitis HLS backend: IR -> a C++ DATAFLOW project (Jinja templates under templates/hls)."""

from .emit import HlsProject, emit_project, template_env

__all__ = ["HlsProject", "emit_project", "template_env"]
