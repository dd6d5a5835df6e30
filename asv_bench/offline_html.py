"""Make the published asv dashboard (asv_bench/html) work without internet.

asv 0.6's index.html loads jQuery, flot, bootstrap, md5 and stupidtable from CDNs;
offline the page shows only "One or more external (JavaScript) dependencies ...
failed to load".  asv 0.5.1 shipped the same libraries (same versions) in
``asv/www/vendor``: this script takes them from that release's sdist (``pip download``
from PyPI once, cached in asv_bench/.asv_vendor, not committed), copies them to
html/vendor/ and points index.html's script and link tags there.

    cd asv_bench && asv publish && python offline_html.py
"""
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(HERE, ".asv_vendor")
HTML = os.path.join(HERE, "html")
# CDN address fragment -> file in asv 0.5.1's www/vendor
LOCAL = {
    "jquery-3.3.1.min.js": "jquery-3.3.1.min.js",
    "flot/0.8.3/jquery.flot.min.js": "jquery.flot-0.8.3.min.js",
    "flot/0.8.3/jquery.flot.time.min.js": "jquery.flot-0.8.3.time.min.js",
    "flot/0.8.3/jquery.flot.selection.min.js": "jquery.flot-0.8.3.selection.min.js",
    "flot/0.8.3/jquery.flot.categories.min.js": "jquery.flot-0.8.3.categories.min.js",
    "jquery.flot.orderBars.js": "jquery.flot.orderBars.js",
    "stupidtable.min.js": "stupidtable.js",
    "md5.min.js": "md5.js",
    "bootstrap.min.js": "bootstrap-3.1.0.min.js",
    "bootstrap.min.css": "bootstrap-3.1.0.min.css",
}


def vendor_files():
    """Directory holding the vendored files, downloading asv 0.5.1's sdist the first time."""
    if all(os.path.exists(os.path.join(CACHE, f)) for f in LOCAL.values()):
        return CACHE
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "asv==0.5.1", "--no-deps",
                        "--no-binary", ":all:", "-d", tmp, "-q"], check=True)
        (sdist,) = [f for f in os.listdir(tmp) if f.endswith(".tar.gz")]
        os.makedirs(CACHE, exist_ok=True)
        with tarfile.open(os.path.join(tmp, sdist)) as tar:
            for member in tar.getmembers():
                name = os.path.basename(member.name)
                if "/www/vendor/" in member.name and name in LOCAL.values():
                    with open(os.path.join(CACHE, name), "wb") as out:
                        out.write(tar.extractfile(member).read())
    return CACHE


def localize(html_dir=HTML):
    index = os.path.join(html_dir, "index.html")
    if not os.path.exists(index):
        raise SystemExit(f"{index} not found: run `asv publish` in asv_bench first")
    src = vendor_files()
    os.makedirs(os.path.join(html_dir, "vendor"), exist_ok=True)
    for name in LOCAL.values():
        shutil.copy(os.path.join(src, name), os.path.join(html_dir, "vendor", name))
    text = open(index).read()

    def tag(match):
        url = match.group(2)
        for fragment, name in LOCAL.items():
            if url.endswith(fragment):
                attr = "href" if match.group(1) == "href" else "src"
                rest = re.sub(r'\s(integrity|crossorigin|referrerpolicy)="[^"]*"', "", match.group(3))
                return f'{attr}="vendor/{name}"{rest}'
        return match.group(0)
    new = re.sub(r'(src|href)="(https://[^"]+)"([^>]*)', tag, text)
    open(index, "w").write(new)
    left = re.findall(r'(?:src|href)="(https://[^"]+)"', new)
    print(f"index.html: CDN references left: {left or 'none'}")


if __name__ == "__main__":
    localize()
