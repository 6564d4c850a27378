# A test aid for the quick_skip case of tests/ansible/run.sh: on PYTHONPATH, it makes this
# ansible-core say it is 2.99.0, a version linear_quick_skip was not tested with (it must then
# run exactly as linear).
import ansible.release

ansible.release.__version__ = "2.99.0"
