//! Console users' credentials: how passwords are hashed and checked ([`password`]) and the first administrator
//! of a fresh database ([`first_start`]). Sessions and login pages belong to the web layer.

pub mod first_start;
pub mod password;
