# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
import polib

from trytond.model import fields
from trytond.pool import Pool, PoolMeta
from trytond.transaction import Transaction


class Rule(metaclass=PoolMeta):
    __name__ = 'ir.rule'

    @classmethod
    def _crm_employee_models(cls):
        "The models whose record rules evaluate the user's employees"
        return {
            'sale.opportunity', 'crm.forecast', 'crm.pipeline.stage',
            'crm.win_loss',
            'crm.win_loss.competitor', 'crm.win_loss.source',
            'crm.activity', 'crm.activity.statistics',
            }

    @classmethod
    def _get_context(cls, model_name):
        pool = Pool()
        User = pool.get('res.user')
        context = super()._get_context(model_name)
        if model_name in cls._crm_employee_models():
            context['employees'] = User.get_employees()
        if model_name in cls._crm_user_models():
            context['user_id'] = Transaction().user
        return context

    @classmethod
    def _crm_user_models(cls):
        "The models whose record rules evaluate the user"
        return {'crm.lead.import'}

    @classmethod
    def _get_cache_key(cls, model_names):
        pool = Pool()
        User = pool.get('res.user')
        key = super()._get_cache_key(model_names)
        if model_names & cls._crm_employee_models():
            key = (*key, User.get_employees())
        if model_names & cls._crm_user_models():
            key = (*key, Transaction().user)
        return key


class Lang(metaclass=PoolMeta):
    __name__ = 'ir.lang'

    @classmethod
    def __register__(cls, module_name):
        super().__register__(module_name)
        if module_name == 'crm_core':
            cls._crm_adopt_language('he', 'lang_he')

    @classmethod
    def _crm_adopt_language(cls, code, fs_id):
        """Make the language code that a database already has (created by
        hand) the record fs_id of crm_core's ir.xml, so that the XML updates
        it instead of creating a second one with the same code"""
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        lang = cls.__table__()
        cursor = Transaction().connection.cursor()
        if ModelData.search([
                    ('module', '=', 'crm_core'), ('fs_id', '=', fs_id)]):
            return
        cursor.execute(*lang.select(lang.id, where=lang.code == code))
        row = cursor.fetchone()
        if row and not ModelData.search([
                    ('model', '=', cls.__name__), ('db_id', '=', row[0])]):
            # noupdate as the XML says it, after its values are written
            ModelData.create([{
                        'fs_id': fs_id,
                        'model': cls.__name__,
                        'module': 'crm_core',
                        'db_id': row[0],
                        'field_names': [],
                        'noupdate': False,
                        }])


class Translation(metaclass=PoolMeta):
    __name__ = 'ir.translation'

    @classmethod
    def translation_import(cls, lang, module, po_path):
        cls._crm_override_sources(lang, po_path)
        return super().translation_import(lang, module, po_path)

    @classmethod
    def _crm_override_sources(cls, lang, po_path):
        """Create the rows that the overrides of po_path translate

        An entry whose msgctxt ends with <module>.<xml id> (or <module>. for
        a field, help or selection) overrides the translation of another
        module, which trytond updates in place: the row must exist. A host
        module without a translation into lang (Hebrew) has none, so it is
        created here from the source of the default language, as the
        "Synchronize Translations" wizard would."""
        pool = Pool()
        ModelData = pool.get('ir.model.data')
        Config = pool.get('ir.configuration')
        if isinstance(po_path, str):
            po_path = [po_path]
        default = Config.get_language()
        to_create = []
        for path in po_path:
            for entry in polib.pofile(path):
                if entry.obsolete or not entry.msgctxt:
                    continue
                type_, name, res_id = entry.msgctxt.split(':')
                if '.' not in res_id:
                    continue
                res_module, fs_id = res_id.split('.', 1)
                if fs_id:
                    db_id = ModelData.get_id(res_module, fs_id)
                else:
                    db_id = -1
                domain = [
                    ('name', '=', name),
                    ('res_id', '=', db_id),
                    ('type', '=', type_),
                    ('module', '=', res_module),
                    ]
                if type_ in {'report', 'view', 'wizard_button', 'selection'}:
                    domain.append(('src', '=', entry.msgid))
                if cls.search(domain + [('lang', '=', lang)]):
                    continue
                sources = cls.search(domain + [('lang', '=', default)])
                if not sources:
                    continue
                source = sources[0]
                to_create.append({
                        'name': name,
                        'res_id': db_id,
                        'type': type_,
                        'module': res_module,
                        'lang': lang,
                        'src': source.src,
                        'src_plural': source.src_plural,
                        'value': '',
                        'fuzzy': False,
                        })
        if to_create:
            cls.create(to_create)


class ActWindowDomain(metaclass=PoolMeta):
    __name__ = 'ir.action.act_window.domain'

    crm_stage = fields.Many2One(
        'crm.stage', "CRM Stage", readonly=True, ondelete='CASCADE',
        help="The stage whose opportunities the tab shows; the tab follows "
        "the stage (see crm.stage).")
