# etcd_files runs from the module cache on the host, one exec per task: see _cached_binary.py.
# Loaded by file location, not runpy.run_path: inside an installed collection Ansible's path hook
# claims the plugin directory and run_path would look for a __main__ module there.
import importlib.util
import os.path
import sys

_NAME = "etcd_ansible_cached_binary"
if _NAME not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_NAME, os.path.join(os.path.dirname(__file__), "_cached_binary.py"))
    sys.modules[_NAME] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_NAME])
ActionModule = sys.modules[_NAME].CachedBinaryAction
