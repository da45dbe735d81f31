//! The trussed side of the virtual card: a software platform with RAM
//! storage, the backends and extensions that piv-authenticator needs, and a
//! cloneable client handle so the applet can be re-created (to model a card
//! reset) without losing the trussed service and its stored state.

use std::cell::RefCell;
use std::rc::Rc;
use std::task::Poll;

use trussed::{
    backend::{Backend as _, BackendId},
    platform::Platform,
    serde_extensions::{ExtensionDispatch, ExtensionId, ExtensionImpl},
    service::ServiceResources,
    types::Context,
};
use trussed_auth::AuthExtension;
use trussed_auth_backend::{AuthBackend, AuthContext, FilesystemLayout};
use trussed_chunked::ChunkedExtension;
use trussed_core::{
    api::{reply, request, Reply, Request, RequestVariant},
    serde_extensions::{Extension, ExtensionClient},
    types::Location,
    ClientResult, Error, FutureResult, InterruptFlag, PollClient,
};
use trussed_hpke::HpkeExtension;
use trussed_staging::{StagingBackend, StagingContext};
use trussed_wrap_key_to_file::WrapKeyToFileExtension;

/// Custom backends, tried in the order of [`BACKENDS`] before the core one.
#[derive(Debug, Clone, Copy)]
pub enum BackendKind {
    /// trussed-staging: chunked file I/O, HPKE, wrap-key-to-file.
    Staging,
    /// trussed-auth-backend: PIN storage and PIN-derived keys.
    Auth,
}

/// Backend order for the applet's client: the custom ones first, then the
/// core trussed implementation for everything they do not handle.
pub const BACKENDS: &[BackendId<BackendKind>] = &[
    BackendId::Custom(BackendKind::Staging),
    BackendId::Custom(BackendKind::Auth),
    BackendId::Core,
];

/// The serde extensions piv-authenticator calls, with the numeric ids this
/// runner assigns to them (any distinct values would do).
#[derive(Debug, Clone, Copy)]
pub enum ExtensionKind {
    Auth = 1,
    Chunked = 2,
    Hpke = 3,
    WrapKeyToFile = 4,
}

impl From<ExtensionKind> for u8 {
    fn from(kind: ExtensionKind) -> u8 {
        kind as u8
    }
}

impl TryFrom<u8> for ExtensionKind {
    type Error = Error;

    fn try_from(id: u8) -> Result<Self, Error> {
        Ok(match id {
            1 => Self::Auth,
            2 => Self::Chunked,
            3 => Self::Hpke,
            4 => Self::WrapKeyToFile,
            _ => return Err(Error::RequestNotAvailable),
        })
    }
}

/// Routes requests to the auth and staging backends.
pub struct CardDispatch {
    auth: AuthBackend,
    staging: StagingBackend,
}

impl CardDispatch {
    pub fn new() -> Self {
        Self {
            auth: AuthBackend::new(Location::Internal, FilesystemLayout::V0),
            staging: StagingBackend::new(),
        }
    }
}

/// Per-client state of the custom backends.
#[derive(Default)]
pub struct CardDispatchContext {
    auth: AuthContext,
    staging: StagingContext,
}

impl ExtensionDispatch for CardDispatch {
    type BackendId = BackendKind;
    type Context = CardDispatchContext;
    type ExtensionId = ExtensionKind;

    fn core_request<P: Platform>(
        &mut self,
        backend: &BackendKind,
        ctx: &mut Context<CardDispatchContext>,
        request: &Request,
        resources: &mut ServiceResources<P>,
    ) -> Result<Reply, Error> {
        match backend {
            BackendKind::Auth => {
                self.auth
                    .request(&mut ctx.core, &mut ctx.backends.auth, request, resources)
            }
            BackendKind::Staging => {
                self.staging
                    .request(&mut ctx.core, &mut ctx.backends.staging, request, resources)
            }
        }
    }

    fn extension_request<P: Platform>(
        &mut self,
        backend: &BackendKind,
        extension: &ExtensionKind,
        ctx: &mut Context<CardDispatchContext>,
        request: &request::SerdeExtension,
        resources: &mut ServiceResources<P>,
    ) -> Result<reply::SerdeExtension, Error> {
        let core = &mut ctx.core;
        match (backend, extension) {
            (BackendKind::Auth, ExtensionKind::Auth) => {
                ExtensionImpl::<AuthExtension>::extension_request_serialized(
                    &mut self.auth,
                    core,
                    &mut ctx.backends.auth,
                    request,
                    resources,
                )
            }
            (BackendKind::Staging, ExtensionKind::Chunked) => {
                ExtensionImpl::<ChunkedExtension>::extension_request_serialized(
                    &mut self.staging,
                    core,
                    &mut ctx.backends.staging,
                    request,
                    resources,
                )
            }
            (BackendKind::Staging, ExtensionKind::Hpke) => {
                ExtensionImpl::<HpkeExtension>::extension_request_serialized(
                    &mut self.staging,
                    core,
                    &mut ctx.backends.staging,
                    request,
                    resources,
                )
            }
            (BackendKind::Staging, ExtensionKind::WrapKeyToFile) => {
                ExtensionImpl::<WrapKeyToFileExtension>::extension_request_serialized(
                    &mut self.staging,
                    core,
                    &mut ctx.backends.staging,
                    request,
                    resources,
                )
            }
            _ => Err(Error::RequestNotAvailable),
        }
    }
}

impl ExtensionId<AuthExtension> for CardDispatch {
    type Id = ExtensionKind;
    const ID: ExtensionKind = ExtensionKind::Auth;
}

impl ExtensionId<ChunkedExtension> for CardDispatch {
    type Id = ExtensionKind;
    const ID: ExtensionKind = ExtensionKind::Chunked;
}

impl ExtensionId<HpkeExtension> for CardDispatch {
    type Id = ExtensionKind;
    const ID: ExtensionKind = ExtensionKind::Hpke;
}

impl ExtensionId<WrapKeyToFileExtension> for CardDispatch {
    type Id = ExtensionKind;
    const ID: ExtensionKind = ExtensionKind::WrapKeyToFile;
}

/// A cloneable handle on one trussed client.
///
/// `Authenticator` owns its client and offers no way to hand it back, so to
/// re-create the applet (fresh volatile state, as after a card reset) every
/// applet instance gets a clone of this handle. Only one applet exists at a
/// time and calls are strictly sequential, so the `RefCell` is only ever
/// borrowed for the duration of a single `request` or `poll`.
pub struct SharedClient<C>(Rc<RefCell<C>>);

impl<C> SharedClient<C> {
    pub fn new(client: C) -> Self {
        Self(Rc::new(RefCell::new(client)))
    }
}

impl<C> Clone for SharedClient<C> {
    fn clone(&self) -> Self {
        Self(Rc::clone(&self.0))
    }
}

impl<C: PollClient> PollClient for SharedClient<C> {
    fn request<Rq: RequestVariant>(&mut self, req: Rq) -> ClientResult<'_, Rq::Reply, Self> {
        // The inner client queues the request and hands back a future bound
        // to itself; polling goes through `poll` below, so only the fact that
        // the request was accepted matters here.
        self.0.borrow_mut().request(req).map(drop)?;
        Ok(FutureResult::new(self))
    }

    fn poll(&mut self) -> Poll<Result<Reply, Error>> {
        self.0.borrow_mut().poll()
    }

    fn interrupt(&self) -> Option<&'static InterruptFlag> {
        self.0.borrow().interrupt()
    }
}

impl<C: trussed_core::CryptoClient> trussed_core::CryptoClient for SharedClient<C> {}
impl<C: trussed_core::FilesystemClient> trussed_core::FilesystemClient for SharedClient<C> {}
impl<C: trussed_core::mechanisms::Tdes> trussed_core::mechanisms::Tdes for SharedClient<C> {}

impl<E: Extension, C: ExtensionClient<E>> ExtensionClient<E> for SharedClient<C> {
    fn id() -> u8 {
        C::id()
    }
}
