#!/usr/bin/env python3
# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
"""Extract the translatable strings of the CRM modules into locale/<lang>.po

    .venv/bin/python tools/i18n.py sync    # `make translations`
    .venv/bin/python tools/i18n.py check   # `make translations-check`

sync extracts exactly what trytond translates: it activates the five
modules, with every module of their extras_depend, in a throwaway SQLite
database with the languages loaded (so the current .po files are imported),
runs trytond's "Set Translations", "Clean Translations" and "Synchronize
Translations" wizards, and exports each module's ir.translation per language
with Translation.translation_export, as `trytond-admin
--export-translations` does. The export is merged into
addons/<module>/locale/<lang>.po: a translated entry keeps its msgstr; an
entry whose source changed keeps the old msgstr marked fuzzy with the
previous source; a new string gets trytond's suggestion (the translation of
the same source elsewhere, fuzzy) or nothing. Overrides of other modules'
strings (locale/override/<lang>.po) are not touched.

check reads the .po files only (the overrides too) and lists the entries without a translation
(empty or fuzzy; trytond ignores fuzzy ones) and the translations whose
placeholders differ from their source; it exits 1 when there is any.
Both take --module and --lang to narrow the work.
"""
import argparse
import configparser
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import polib

TOP = Path(__file__).resolve().parent.parent
ADDONS = TOP / 'addons'
MODULES = [
    'crm_core', 'crm_marketing', 'crm_service', 'crm_survey', 'crm_loyalty']
LANGUAGES = ['bg', 'ru', 'zh_CN', 'he']
DATABASE = 'i18n'


def step(message):
    print(f'==> i18n: {message}', flush=True)


def extras(modules):
    "Return the extras_depend of the modules that are not among them"
    found = []
    for module in modules:
        config = configparser.ConfigParser()
        config.read(ADDONS / module / 'tryton.cfg')
        for name in config.get('tryton', 'extras_depend', fallback='').split():
            if name not in modules and name not in found:
                found.append(name)
    return found


def create_database(directory, languages):
    """Activate the modules and their extras in the SQLite database of
    directory with the languages loaded; return the configuration file"""
    conf = Path(directory) / 'trytond.conf'
    conf.write_text(
        f'[database]\nuri = sqlite://\npath = {directory}\n'
        'language = en\n')
    (Path(directory) / f'{DATABASE}.sqlite').touch()
    passfile = Path(directory) / 'password'
    passfile.write_text('i18n-admin-password\n')
    modules = MODULES + extras(MODULES)
    step(f'activating {" ".join(modules)} (a minute or two)…')
    bin_ = Path(sys.executable).parent
    process = subprocess.run([
            bin_ / 'trytond-admin', '-c', conf, '-d', DATABASE,
            '-u', *modules, '--activate-dependencies',
            '-l', *languages, '--email', 'admin@example.com'],
        env={**os.environ, 'TRYTONPASSFILE': str(passfile)},
        capture_output=True, text=True)
    if process.returncode:
        sys.exit('i18n: trytond-admin failed:\n'
            + (process.stdout + process.stderr)[-5000:])
    return conf


def export(conf, modules, languages):
    """Return {(module, language): po text} exported from the database
    after trytond's Set, Clean and Synchronize wizards"""
    from trytond import config
    config.update_etc(str(conf))
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    pool = Pool(DATABASE)
    pool.init()
    result = {}
    with Transaction().start(DATABASE, 0) as transaction:
        Lang = pool.get('ir.lang')
        Translation = pool.get('ir.translation')
        TranslationSet = pool.get('ir.translation.set', type='wizard')
        TranslationClean = pool.get('ir.translation.clean', type='wizard')
        TranslationUpdate = pool.get('ir.translation.update', type='wizard')

        step('set translations (views, reports)…')
        session_id, _, _ = TranslationSet.create()
        TranslationSet.execute(session_id, {}, 'set_')
        TranslationSet.delete(session_id)
        step('clean translations…')
        session_id, _, _ = TranslationClean.create()
        TranslationClean.execute(session_id, {}, 'clean')
        TranslationClean.delete(session_id)
        for code in languages:
            step(f'synchronize translations {code}…')
            language, = Lang.search([('code', '=', code)])
            session_id, _, _ = TranslationUpdate.create()
            TranslationUpdate.execute(session_id, {
                    'start': {'language': language.id},
                    }, 'update')
            TranslationUpdate.delete(session_id)
        for module in modules:
            for code in languages:
                content = Translation.translation_export(code, module)
                result[module, code] = (content or b'').decode('utf-8')
        transaction.rollback()
    return result


def po_path(module, language):
    return ADDONS / module / 'locale' / f'{language}.po'


def merge(exported, old):
    """Return the exported pofile with the translations of old kept

    Entries are matched on (msgctxt, msgid); a translation of the same
    msgctxt with another msgid is kept fuzzy, with the previous msgid."""
    new = polib.pofile(exported, wrapwidth=78)
    by_key, by_context = {}, {}
    for entry in old or []:
        if entry.obsolete or not (entry.msgstr or entry.msgstr_plural):
            continue
        by_key[entry.msgctxt, entry.msgid] = entry
        by_context.setdefault(entry.msgctxt, entry)
    for entry in new:
        previous = by_key.get((entry.msgctxt, entry.msgid))
        changed = False
        if previous is None:
            previous = by_context.get(entry.msgctxt)
            changed = previous is not None
        if previous is None:
            continue
        entry.msgstr = previous.msgstr
        if entry.msgid_plural:
            entry.msgstr_plural = dict(previous.msgstr_plural)
        if 'fuzzy' in previous.flags or changed:
            if 'fuzzy' not in entry.flags:
                entry.flags.append('fuzzy')
            if changed:
                entry.previous_msgid = previous.msgid
        elif 'fuzzy' in entry.flags:
            entry.flags.remove('fuzzy')
    return new


def write(pofile, path):
    "Write pofile as trytond's export does"
    path.parent.mkdir(exist_ok=True)
    text = str(pofile)
    if not text.endswith('\n'):
        text += '\n'
    path.write_text(text, encoding='utf-8')


def sync(modules, languages, keep=None):
    with tempfile.TemporaryDirectory(prefix='crm-i18n-') as directory:
        if keep:
            directory = keep
            os.makedirs(directory, exist_ok=True)
        # The .po files of every language are loaded: the parents (zh) too
        conf = create_database(directory, LANGUAGES)
        exported = export(conf, modules, languages)
    for (module, language), content in sorted(exported.items()):
        path = po_path(module, language)
        if not content:
            if path.exists():
                path.unlink()
            continue
        old = polib.pofile(str(path)) if path.exists() else None
        write(merge(content, old), path)
    return report(modules, languages)


def _rules():
    """The module of crm_core's translation test, loaded by its path (its
    package would start trytond's test set-up)"""
    import importlib.util
    path = ADDONS / 'crm_core' / 'tests' / 'translation.py'
    spec = importlib.util.spec_from_file_location('crm_translation', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def report(modules, languages, verbose=True):
    "Print the counts and problems of the .po files; return how many"
    problems = _rules().problems
    total = 0
    print(f'{"module":<15}' + ''.join(f'{l:>14}' for l in languages))
    listing = []
    for module in modules:
        counts = []
        for language in languages:
            path = po_path(module, language)
            if not path.exists():
                counts.append('-')
                continue
            pofile = polib.pofile(str(path))
            found = list(problems(pofile))
            total += len(found)
            entries = [e for e in pofile if not e.obsolete]
            counts.append(f'{len(entries) - len(found)}/{len(entries)}')
            for kind, entry in found:
                listing.append(
                    f'{path.relative_to(TOP)}: {kind}: {entry.msgctxt} '
                    f'{entry.msgid!r}')
        print(f'{module:<15}' + ''.join(f'{c:>14}' for c in counts))
    for path in sorted(ADDONS.glob('*/locale/override/*.po')):
        if (path.parts[-4] in modules and path.stem in languages):
            found = list(problems(polib.pofile(str(path))))
            total += len(found)
            listing += [f'{path.relative_to(TOP)}: {kind}: '
                f'{entry.msgctxt} {entry.msgid!r}' for kind, entry in found]
            print(f'{path.relative_to(ADDONS)}: '
                f'{len(polib.pofile(str(path))) - len(found)} overrides '
                'translated')
    if verbose:
        for line in listing:
            print(line)
    print(f'{total} entries untranslated or with wrong placeholders')
    return total


def main():
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='\n'.join(__doc__.splitlines()[2:]))
    parser.add_argument('command', choices=['sync', 'check'])
    parser.add_argument('--module', nargs='+', default=MODULES,
        choices=MODULES)
    parser.add_argument('--lang', nargs='+', default=LANGUAGES,
        choices=LANGUAGES)
    parser.add_argument('--keep', metavar='DIR',
        help="sync: build the database in DIR and keep it")
    parser.add_argument('--quiet', action='store_true',
        help="check: only the counts")
    args = parser.parse_args()
    if args.command == 'sync':
        sync(args.module, args.lang, args.keep)
        return 0
    return 1 if report(args.module, args.lang, not args.quiet) else 0


if __name__ == '__main__':
    sys.exit(main())
