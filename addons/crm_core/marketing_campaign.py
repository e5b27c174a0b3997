# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.i18n import gettext
from trytond.pool import Pool, PoolMeta

from .lead_capture import valid_utm_name
from .scoring import ScoringFeature


class Opportunity(metaclass=PoolMeta):
    __name__ = 'sale.opportunity'

    def _set_capture_utm(self, values):
        """Set the host's marketing campaign, medium and source

        Only existing ones (active or not, compared lower-cased) unless the
        configuration allows the web form to create them; then only from a
        name that valid_utm_name accepts."""
        pool = Pool()
        Configuration = pool.get('crm.configuration')
        super()._set_capture_utm(values)
        create = Configuration(1).web_form_utm_create
        for key, fname, model in [
                ('utm_campaign', 'marketing_campaign', 'marketing.campaign'),
                ('utm_medium', 'marketing_medium', 'marketing.medium'),
                ('utm_source', 'marketing_source', 'marketing.source'),
                ]:
            value = ' '.join((values.get(key) or '').split())
            if not value:
                continue
            Parameter = pool.get(model)
            record = Parameter.from_name(value, create=False)
            if not record and create and valid_utm_name(value):
                record = Parameter.from_name(value)
            if record:
                setattr(self, fname, record)

    @classmethod
    def _scoring_features(cls):
        "The UTM campaign, medium and source are learned too"
        features = super()._scoring_features()
        for fname, model in [
                ('marketing_campaign', 'marketing.campaign'),
                ('marketing_medium', 'marketing.medium'),
                ('marketing_source', 'marketing.source'),
                ]:
            features.append(ScoringFeature(fname,
                    gettext('crm_core.msg_scoring_' + fname),
                    lambda table, bulk, fname=fname: (
                        table, getattr(table, fname)),
                    model=model))
        return features
