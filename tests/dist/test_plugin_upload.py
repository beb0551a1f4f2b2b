"""The plugin zip of `make dist` installed the way a user installs it: wp-admin → Plugins → Add New →
Upload Plugin (a multipart POST of the form, with its nonce, as the logged-in admin), then the
"Activate Plugin" link of the result page; on the real WordPress stack (tests/support/wordpress.py)
started without banlog in wp-content/plugins."""
import html
import re
import zipfile

import pytest

from support.wordpress import Stack

PLUGIN = "banlog/banlog.php"


@pytest.fixture(scope="module")
def bare_stack():
    s = Stack(log=lambda *a: None, plugin=False)
    s.start()
    yield s
    s.stop()


def upload_form_nonce(admin):
    r = admin.get("/wp-admin/plugin-install.php?tab=upload")
    assert r.status == 200, r.status
    form = re.search(r'<form[^>]*action="[^"]*update\.php\?action=upload-plugin"[^>]*>(.*?)</form>', r.text, re.S)
    assert form, "no Upload Plugin form on plugin-install.php"
    assert 'type="file"' in form.group(1) and 'name="pluginzip"' in form.group(1)
    return re.search(r'name="_wpnonce" value="([0-9a-f]+)"', form.group(1)).group(1)


def upload(admin, nonce, name, data):
    return admin.post_multipart("/wp-admin/update.php?action=upload-plugin",
                                {"_wpnonce": nonce, "_wp_http_referer": "/wp-admin/plugin-install.php?tab=upload",
                                 "install-plugin-submit": "Install Now"},
                                {"pluginzip": (name, data, "application/zip")})


def test_plugin_zip_installs_and_activates_through_wp_admins_upload_form(dist, bare_stack):
    s = bare_stack
    [zip_path] = dist.glob("banlog-plugin-*.zip")
    plugins = s.docroot / "wp-content" / "plugins"
    assert not (plugins / "banlog").exists()
    active = "echo is_plugin_active('banlog/banlog.php') ? 'active' : 'inactive';"
    code = "require_once ABSPATH . 'wp-admin/includes/plugin.php';" + active

    # Without the form's nonce WordPress refuses the upload and writes nothing.
    r = upload(s.admin, "0123456789", zip_path.name, zip_path.read_bytes())
    assert r.status == 403 and "Plugin installed successfully" not in r.text
    assert not (plugins / "banlog").exists()

    r = upload(s.admin, upload_form_nonce(s.admin), zip_path.name, zip_path.read_bytes())
    assert r.status == 200 and "Plugin installed successfully." in r.text, r.text[-3000:]
    # Every file of the zip, unpacked where WordPress keeps plugins, byte for byte.
    with zipfile.ZipFile(zip_path) as z:
        for info in z.infolist():
            if not info.is_dir():
                assert (plugins / info.filename).read_bytes() == z.read(info), info.filename
    assert s.php_eval(code) == "inactive"

    link = re.search(r'href="([^"]*plugins\.php\?action=activate&amp;plugin=banlog%2Fbanlog\.php[^"]*)"', r.text)
    assert link, "no Activate Plugin link on the result page"
    url = html.unescape(link.group(1))
    r = s.admin.get(url if url.startswith("/") else "/wp-admin/" + url.split("/wp-admin/")[-1])
    assert r.status == 302 and "activate=true" in (r.header("Location") or ""), (r.status, r.header("Location"))
    assert s.php_eval(code) == "active"
    # Active means loaded: its settings page answers for the admin.
    r = s.admin.get("/wp-admin/options-general.php?page=banlog")
    assert r.status == 200 and 'name="banlog_options[spam_log]"' in r.text, r.status
