# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""The completeness of a module's translations

TranslationTestMixin.test_translations fails when a translatable string of
the module (as trytond's "Set Translations" finds them) has no translation in
one of LANGUAGES, or when a translation drops or changes a placeholder.

The functions below import nothing of trytond: tools/i18n.py loads this file
by its path to report on the .po files with the same rules."""
import os
import re
from collections import Counter

import polib

LANGUAGES = ['bg', 'ru', 'zh_CN', 'he']

# Placeholders a translation must keep: %(name)s and {name} always, %s and
# %d when the source is a %-format (as trytond's export flags python-format)
_NAMED = re.compile(r'%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[a-zA-Z]')
_BRACES = re.compile(r'\{\w*(?:[:!][^{}]*)?\}')
_POSITIONAL = re.compile(r'%[-#0 +]*\d*(?:\.\d+)?[sdifr]')


def _is_format(text):
    try:
        text % ()
    except TypeError:
        return True
    except (ValueError, KeyError):
        return False
    return False


def placeholders(text, source=None):
    "Return the placeholders of text (of the kinds its source uses)"
    source = text if source is None else source
    patterns = [_NAMED, _BRACES]
    if _is_format(source):
        patterns.append(_POSITIONAL)
    text = text.replace('%%', '')
    found = Counter()
    for pattern in patterns:
        found.update(pattern.findall(text))
        text = pattern.sub('', text)
    return found


def problems(pofile):
    """Yield (kind, entry) for the entries of pofile untranslated (empty or
    fuzzy: trytond ignores fuzzy ones) or whose placeholders differ from
    their source's"""
    for entry in pofile:
        if entry.obsolete:
            continue
        values = ([entry.msgstr] if not entry.msgid_plural
            else list(entry.msgstr_plural.values()))
        if 'fuzzy' in entry.flags or not values or not all(values):
            yield 'untranslated', entry
            continue
        source = placeholders(entry.msgid)
        if any(placeholders(v, entry.msgid) != source for v in values):
            yield 'placeholder', entry


def describe(entry):
    return f'{entry.msgctxt} {entry.msgid!r} → {entry.msgstr!r}'


class TranslationTestMixin:
    "Check that every string of the module is translated into LANGUAGES"
    languages = LANGUAGES

    def locale_directory(self):
        from trytond.modules import get_module_info
        return os.path.join(
            get_module_info(self.module)['directory'], 'locale')

    def translatable(self):
        """Return {(msgctxt, msgid)} of the module's strings, as trytond's
        export names them, after its "Set Translations" wizard"""
        from trytond.pool import Pool
        pool = Pool()
        Translation = pool.get('ir.translation')
        ModelData = pool.get('ir.model.data')
        TranslationSet = pool.get('ir.translation.set', type='wizard')
        session_id, _, _ = TranslationSet.create()
        TranslationSet.execute(session_id, {}, 'set_')
        TranslationSet.delete(session_id)

        fs_ids = {}
        for data in ModelData.search([('module', '=', self.module)]):
            fs_ids.setdefault(data.model, {})[data.db_id] = data.fs_id
            for extra in Translation.extra_model_data(data):
                fs_ids.setdefault(extra, {})[data.db_id] = data.fs_id
        keys = set()
        for translation in Translation.search([
                    ('lang', '=', 'en'),
                    ('module', '=', self.module),
                    ]):
            if not translation.src:
                continue
            context = f'{translation.type}:{translation.name}:'
            if translation.res_id >= 0:
                model = translation.name.split(',')[0]
                fs_id = fs_ids.get(model, {}).get(translation.res_id)
                if fs_id is None:
                    continue
                context += fs_id
            keys.add((context, translation.src))
        return keys

    def test_translations(self):
        "Every string of the module is translated, placeholders kept"
        from trytond.tests.test_tryton import with_transaction

        @with_transaction()
        def strings():
            return self.translatable()
        keys = strings()
        self.assertTrue(keys, f"no translatable string in {self.module}")
        directory = self.locale_directory()
        for language in self.languages:
            with self.subTest(language=language):
                path = os.path.join(directory, f'{language}.po')
                self.assertTrue(os.path.exists(path), f'no {path}')
                pofile = polib.pofile(path)
                wrong = [f'{kind}: {describe(entry)}'
                    for kind, entry in problems(pofile)]
                entries = {(e.msgctxt, e.msgid) for e in pofile
                    if not e.obsolete}
                missing = sorted(keys - entries)
                message = '\n'.join(
                    wrong[:20]
                    + [f'missing: {c} {i!r}' for c, i in missing[:20]]
                    + ['(`make translations` adds the missing strings)'])
                self.assertFalse(
                    wrong or missing,
                    f'{self.module} {language}: {len(wrong)} wrong, '
                    f'{len(missing)} missing:\n{message}')
