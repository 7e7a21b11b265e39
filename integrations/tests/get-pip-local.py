"""A local stand-in for the get-pip.py that ansible-test downloads.

`ansible-test sanity` makes a virtual environment per test and bootstraps pip
into it by running get-pip.py, which it fetches from a host outside the
package registries (this machine and CI reach PyPI only). ansible-test looks
for a cached copy first, at ~/.ansible/test/cache/get_pip_<VERSION>.py, and
runs it as `python get_pip.py --disable-pip-version-check pip==VERSION
--no-setuptools --no-wheel`; run-in-sandbox.sh puts this file there.

It does what get-pip.py does, from what is at hand: the standard library's
ensurepip installs the pip bundled with this Python, which then installs the
requested pip from PyPI.
"""

import subprocess
import sys

# get-pip.py options that pip install does not take.
GET_PIP_ONLY = {'--no-setuptools', '--no-wheel'}


def main():
    subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'])
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
    subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + args)


if __name__ == '__main__':
    main()
