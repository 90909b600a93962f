"""data comparison

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 14:10:30.182298

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel.sql.sqltypes


# revision identifiers, used by Alembic.
revision: str = '0004'
down_revision: Union[str, None] = '0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('feed_batch',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('feed_type', sa.Enum('death', 'cremation', 'hospital_visit', 'insurance_claim', 'air_travel', 'rail_travel', 'card_use', 'benefit_payment', name='feedtype', native_enum=False, length=32), nullable=False),
    sa.Column('format', sa.Enum('csv', 'jsonl', 'parquet', 'api', name='feedformat', native_enum=False, length=32), nullable=False),
    sa.Column('source_authority', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('file_name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
    sa.Column('content_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('source_path', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('records_path', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('accepted', sa.Integer(), nullable=False),
    sa.Column('quarantined', sa.Integer(), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.Column('imported_by_type', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('imported_by_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feed_batch')),
    sa.UniqueConstraint('content_sha256', name=op.f('uq_feed_batch_content_sha256'))
    )
    with op.batch_alter_table('feed_batch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feed_batch_feed_type'), ['feed_type'], unique=False)

    op.create_table('matching_run',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.Enum('monthly', 'on_demand', 'incremental', name='runkind', native_enum=False, length=32), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('region_scope', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('timings', sa.JSON(), nullable=False),
    sa.Column('started_by_type', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('started_by_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_matching_run'))
    )
    op.create_table('feed_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Uuid(), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=False),
    sa.Column('feed_type', sa.Enum('death', 'cremation', 'hospital_visit', 'insurance_claim', 'air_travel', 'rail_travel', 'card_use', 'benefit_payment', name='feedtype', native_enum=False, length=32), nullable=False),
    sa.Column('national_id', sqlmodel.sql.sqltypes.AutoString(length=18), nullable=True),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('date_of_birth', sa.Date(), nullable=True),
    sa.Column('event_date', sa.Date(), nullable=False),
    sa.Column('facility', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
    sa.Column('source_authority', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['feed_batch.id'], name=op.f('fk_feed_record_batch_id_feed_batch')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feed_record'))
    )
    with op.batch_alter_table('feed_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feed_record_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_feed_record_event_date'), ['event_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_feed_record_national_id'), ['national_id'], unique=False)

    op.create_table('quarantined_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Uuid(), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=False),
    sa.Column('feed_type', sa.Enum('death', 'cremation', 'hospital_visit', 'insurance_claim', 'air_travel', 'rail_travel', 'card_use', 'benefit_payment', name='feedtype', native_enum=False, length=32), nullable=False),
    sa.Column('problem', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('message', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.Column('raw_national_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('date_of_birth', sa.Date(), nullable=True),
    sa.Column('event_date', sa.Date(), nullable=True),
    sa.Column('raw', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['feed_batch.id'], name=op.f('fk_quarantined_record_batch_id_feed_batch')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_quarantined_record'))
    )
    with op.batch_alter_table('quarantined_record', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_quarantined_record_batch_id'), ['batch_id'], unique=False)

    op.create_table('match_candidate',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('pensioner_id', sa.Uuid(), nullable=False),
    sa.Column('region_code', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
    sa.Column('kind', sa.Enum('death_by_name', 'death_untrusted', 'activity_by_name', name='candidatekind', native_enum=False, length=32), nullable=False),
    sa.Column('status', sa.Enum('pending', 'confirmed', 'rejected', name='candidatestatus', native_enum=False, length=32), nullable=False),
    sa.Column('record_key', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('feed_type', sa.Enum('death', 'cremation', 'hospital_visit', 'insurance_claim', 'air_travel', 'rail_travel', 'card_use', 'benefit_payment', name='feedtype', native_enum=False, length=32), nullable=False),
    sa.Column('event_date', sa.Date(), nullable=False),
    sa.Column('record_name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
    sa.Column('record_date_of_birth', sa.Date(), nullable=True),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('run_id', sa.Uuid(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.ForeignKeyConstraint(['pensioner_id'], ['pensioner.id'], name=op.f('fk_match_candidate_pensioner_id_pensioner')),
    sa.ForeignKeyConstraint(['run_id'], ['matching_run.id'], name=op.f('fk_match_candidate_run_id_matching_run')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_match_candidate')),
    sa.UniqueConstraint('record_key', 'pensioner_id', name=op.f('uq_match_candidate_record_key'))
    )
    with op.batch_alter_table('match_candidate', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_match_candidate_pensioner_id'), ['pensioner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_match_candidate_region_code'), ['region_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_match_candidate_status'), ['status'], unique=False)

    op.create_table('verification_task',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('pensioner_id', sa.Uuid(), nullable=False),
    sa.Column('region_code', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
    sa.Column('kind', sa.Enum('remote_prompt', 'community_visit', 'home_visit', name='taskkind', native_enum=False, length=32), nullable=False),
    sa.Column('status', sa.Enum('open', 'done', 'escalated', 'cancelled', name='taskstatus', native_enum=False, length=32), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('run_id', sa.Uuid(), nullable=True),
    sa.Column('created_by_type', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_by_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outcome', sa.Enum('confirmed_alive', 'deceased', 'moved', 'unreachable', 'certified', name='visitoutcome', native_enum=False, length=32), nullable=True),
    sa.Column('visit_date', sa.Date(), nullable=True),
    sa.Column('date_of_death', sa.Date(), nullable=True),
    sa.Column('notes', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('completed_by_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['pensioner_id'], ['pensioner.id'], name=op.f('fk_verification_task_pensioner_id_pensioner')),
    sa.ForeignKeyConstraint(['run_id'], ['matching_run.id'], name=op.f('fk_verification_task_run_id_matching_run')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verification_task'))
    )
    with op.batch_alter_table('verification_task', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_verification_task_pensioner_id'), ['pensioner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_verification_task_region_code'), ['region_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_verification_task_status'), ['status'], unique=False)

    op.create_table('overpayment_claim',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('pensioner_id', sa.Uuid(), nullable=False),
    sa.Column('suspension_id', sa.Uuid(), nullable=False),
    sa.Column('region_code', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
    sa.Column('date_of_death', sa.Date(), nullable=False),
    sa.Column('first_payment_date', sa.Date(), nullable=False),
    sa.Column('last_payment_date', sa.Date(), nullable=False),
    sa.Column('payments', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('recovered_fen', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('open', 'notified', 'repaying', 'recovered', 'written_off', 'referred_to_judiciary', 'withdrawn', name='recoverystatus', native_enum=False, length=32), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['pensioner_id'], ['pensioner.id'], name=op.f('fk_overpayment_claim_pensioner_id_pensioner')),
    sa.ForeignKeyConstraint(['suspension_id'], ['payment_suspension.id'], name=op.f('fk_overpayment_claim_suspension_id_payment_suspension')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_overpayment_claim')),
    sa.UniqueConstraint('suspension_id', name=op.f('uq_overpayment_claim_suspension_id'))
    )
    with op.batch_alter_table('overpayment_claim', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_overpayment_claim_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_overpayment_claim_pensioner_id'), ['pensioner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_overpayment_claim_region_code'), ['region_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_overpayment_claim_status'), ['status'], unique=False)

    op.create_table('recovery_event',
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('claim_id', sa.Uuid(), nullable=False),
    sa.Column('from_status', sa.Enum('open', 'notified', 'repaying', 'recovered', 'written_off', 'referred_to_judiciary', 'withdrawn', name='recoverystatus', native_enum=False, length=32), nullable=False),
    sa.Column('to_status', sa.Enum('open', 'notified', 'repaying', 'recovered', 'written_off', 'referred_to_judiciary', 'withdrawn', name='recoverystatus', native_enum=False, length=32), nullable=False),
    sa.Column('amount_fen', sa.Integer(), nullable=False),
    sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
    sa.Column('actor_type', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('actor_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['overpayment_claim.id'], name=op.f('fk_recovery_event_claim_id_overpayment_claim')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_event'))
    )
    with op.batch_alter_table('recovery_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recovery_event_claim_id'), ['claim_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recovery_event_occurred_at'), ['occurred_at'], unique=False)

    # ### end Alembic commands ###


def downgrade() -> None:
    with op.batch_alter_table('recovery_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recovery_event_occurred_at'))
        batch_op.drop_index(batch_op.f('ix_recovery_event_claim_id'))

    op.drop_table('recovery_event')
    with op.batch_alter_table('overpayment_claim', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_overpayment_claim_status'))
        batch_op.drop_index(batch_op.f('ix_overpayment_claim_region_code'))
        batch_op.drop_index(batch_op.f('ix_overpayment_claim_pensioner_id'))
        batch_op.drop_index(batch_op.f('ix_overpayment_claim_created_at'))

    op.drop_table('overpayment_claim')
    with op.batch_alter_table('verification_task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_verification_task_status'))
        batch_op.drop_index(batch_op.f('ix_verification_task_region_code'))
        batch_op.drop_index(batch_op.f('ix_verification_task_pensioner_id'))

    op.drop_table('verification_task')
    with op.batch_alter_table('match_candidate', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_match_candidate_status'))
        batch_op.drop_index(batch_op.f('ix_match_candidate_region_code'))
        batch_op.drop_index(batch_op.f('ix_match_candidate_pensioner_id'))

    op.drop_table('match_candidate')
    with op.batch_alter_table('quarantined_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_quarantined_record_batch_id'))

    op.drop_table('quarantined_record')
    with op.batch_alter_table('feed_record', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feed_record_national_id'))
        batch_op.drop_index(batch_op.f('ix_feed_record_event_date'))
        batch_op.drop_index(batch_op.f('ix_feed_record_batch_id'))

    op.drop_table('feed_record')
    op.drop_table('matching_run')
    with op.batch_alter_table('feed_batch', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feed_batch_feed_type'))

    op.drop_table('feed_batch')
    # ### end Alembic commands ###
