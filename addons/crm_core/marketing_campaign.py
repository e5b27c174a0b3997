# This file is part of the CRM suite for Tryton.  The COPYRIGHT file at the
# top level of this repository contains the full copyright notices and
# license terms.
from trytond.i18n import gettext
from trytond.pool import Pool, PoolMeta

from .scoring import ScoringFeature


class Opportunity(metaclass=PoolMeta):
    __name__ = 'sale.opportunity'

    def _set_capture_utm(self, values):
        "Set the host's marketing campaign, medium and source"
        pool = Pool()
        super()._set_capture_utm(values)
        for key, fname, model in [
                ('utm_campaign', 'marketing_campaign', 'marketing.campaign'),
                ('utm_medium', 'marketing_medium', 'marketing.medium'),
                ('utm_source', 'marketing_source', 'marketing.source'),
                ]:
            if values.get(key):
                Parameter = pool.get(model)
                setattr(self, fname, Parameter.from_name(values[key]))

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
