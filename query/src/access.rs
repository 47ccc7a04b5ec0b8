//! A principal's grants on one dataset (as laker-auth finds them) turned
//! into the read access plans are compiled with: the read grants' row
//! filters and masks, and who reads (for `current_user()` and attributes).

use laker_auth::Principal;
use laker_auth::authorize::DatasetAccess;

use crate::policy::ReadAccess;
use crate::principal_fns::PrincipalContext;

/// The read policies of `access` for `principal`, ready to plan with.
pub fn read_access(principal: &Principal, access: DatasetAccess) -> ReadAccess {
    ReadAccess {
        policies: access.read,
        principal: PrincipalContext {
            user: principal.name.clone(),
            attributes: principal.attributes.clone(),
        },
    }
}
