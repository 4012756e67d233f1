//! Groups and permissions: creating, renaming and deleting groups, a user's groups and own
//! permissions, the effective set, and what deleting a user or a group takes with it.

mod common;

use common::user;
use tessera_store::testing::TestDatabase;
use tessera_store::{
    Grants, GrantsUpdate, MAX_GRANTS, StoreError, UserFlags, UserUpdate, engine_tests,
};

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

engine_tests! {
    /// A group is created with its permissions (sorted, duplicates dropped) and found by id
    /// and by name; a second group of the same name is refused.
    async fn groups_are_created_and_found(db: &TestDatabase) {
        let store = db.store().await;
        let editors = store
            .create_group("editors", &strings(&["notes.change_note", "notes.add_note", "notes.add_note"]))
            .await
            .unwrap();
        assert_eq!(editors.name, "editors");
        assert_eq!(editors.permissions, strings(&["notes.add_note", "notes.change_note"]));
        assert_eq!(store.group(editors.id).await.unwrap(), Some(editors.clone()));
        assert_eq!(store.group_by_name("editors").await.unwrap(), Some(editors.clone()));
        assert_eq!(store.group_by_name("Editors").await.unwrap(), None, "names are case-sensitive");
        assert_eq!(store.group(editors.id + 1).await.unwrap(), None);
        let err = store.create_group("editors", &[]).await.unwrap_err();
        assert!(matches!(err, StoreError::DuplicateGroupName), "{err:?}");
    }

    /// The list is paginated by id and carries each group's permissions.
    async fn groups_are_listed_by_page(db: &TestDatabase) {
        let store = db.store().await;
        for (name, perms) in [("a", vec!["x.one"]), ("b", vec![]), ("c", vec!["x.two", "x.three"])] {
            store.create_group(name, &strings(&perms)).await.unwrap();
        }
        let (count, first) = store.list_groups(2, 0).await.unwrap();
        assert_eq!(count, 3);
        assert_eq!(first.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(first[0].permissions, strings(&["x.one"]));
        assert!(first[1].permissions.is_empty());
        let (_, second) = store.list_groups(2, 2).await.unwrap();
        assert_eq!(second.len(), 1);
        assert_eq!(second[0].permissions, strings(&["x.three", "x.two"]));
    }

    /// Renaming and replacing permissions; a rename onto a taken name is refused and
    /// changes nothing; an unknown group is `None`.
    async fn groups_are_renamed_and_their_permissions_replaced(db: &TestDatabase) {
        let store = db.store().await;
        let a = store.create_group("a", &strings(&["x.one"])).await.unwrap();
        store.create_group("b", &[]).await.unwrap();
        let renamed = store.update_group(a.id, Some("alpha"), None).await.unwrap().unwrap();
        assert_eq!((renamed.name.as_str(), renamed.permissions.clone()), ("alpha", strings(&["x.one"])));
        let replaced = store
            .update_group(a.id, None, Some(&strings(&["y.two", "y.three"])))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(replaced.permissions, strings(&["y.three", "y.two"]));
        let err = store.update_group(a.id, Some("b"), Some(&[])).await.unwrap_err();
        assert!(matches!(err, StoreError::DuplicateGroupName), "{err:?}");
        assert_eq!(store.group(a.id).await.unwrap(), Some(replaced));
        assert_eq!(store.update_group(a.id + 100, Some("c"), None).await.unwrap(), None);
    }

    /// A user's groups and own permissions are replaced as sets; the effective set is both,
    /// once each; `user_has_permission` agrees with it.
    async fn a_users_permissions_are_their_own_and_their_groups(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        let bob = user(&store, "bob@example.com").await;
        store.create_group("editors", &strings(&["notes.change_note", "notes.view_note"])).await.unwrap();
        store.create_group("readers", &strings(&["notes.view_note"])).await.unwrap();
        assert_eq!(store.user_grants(ada.id).await.unwrap(), Grants::default());
        let grants = store
            .set_user_grants(
                ada.id,
                Some(&strings(&["readers", "editors"])),
                Some(&strings(&["notes.delete_note", "notes.view_note"])),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(grants.groups, strings(&["editors", "readers"]));
        assert_eq!(grants.permissions, strings(&["notes.delete_note", "notes.view_note"]));
        assert_eq!(
            store.effective_permissions(ada.id).await.unwrap(),
            strings(&["notes.change_note", "notes.delete_note", "notes.view_note"])
        );
        for (perm, held) in [("notes.change_note", true), ("notes.delete_note", true), ("notes.add_note", false)] {
            assert_eq!(store.user_has_permission(ada.id, perm).await.unwrap(), held, "{perm}");
        }
        assert!(store.effective_permissions(bob.id).await.unwrap().is_empty());
        assert!(!store.user_has_permission(bob.id, "notes.view_note").await.unwrap());

        // Only the list given is replaced.
        let grants = store.set_user_grants(ada.id, Some(&[]), None).await.unwrap().unwrap();
        assert_eq!(grants, Grants { groups: vec![], permissions: strings(&["notes.delete_note", "notes.view_note"]) });
        assert!(!store.user_has_permission(ada.id, "notes.change_note").await.unwrap());
        assert_eq!(store.set_user_grants(ada.id + 100, Some(&[]), None).await.unwrap(), None);
    }

    /// A page's grants come in one query, an entry for each id asked for.
    async fn the_grants_of_a_page_of_users_come_together(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        let bob = user(&store, "bob@example.com").await;
        let eve = user(&store, "eve@example.com").await;
        store.create_group("editors", &[]).await.unwrap();
        store.create_group("admins", &[]).await.unwrap();
        store.set_user_grants(ada.id, Some(&strings(&["editors", "admins"])), Some(&strings(&["x.y"]))).await.unwrap();
        store.set_user_grants(bob.id, None, Some(&strings(&["b.c", "a.b"]))).await.unwrap();
        store.set_user_grants(eve.id, Some(&strings(&["editors"])), None).await.unwrap();
        let grants = store.grants_of_users(&[ada.id, bob.id, ada.id + 1000]).await.unwrap();
        assert_eq!(grants.len(), 3);
        assert_eq!(grants[&ada.id], store.user_grants(ada.id).await.unwrap());
        assert_eq!(grants[&ada.id].groups, strings(&["admins", "editors"]));
        assert_eq!(grants[&bob.id], Grants { groups: vec![], permissions: strings(&["a.b", "b.c"]) });
        assert_eq!(grants[&(ada.id + 1000)], Grants::default());
        assert!(!grants.contains_key(&eve.id));
        assert!(store.grants_of_users(&[]).await.unwrap().is_empty());
    }

    /// Naming a group that does not exist changes nothing at all.
    async fn an_unknown_group_changes_nothing(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        store.create_group("editors", &[]).await.unwrap();
        store.set_user_grants(ada.id, Some(&strings(&["editors"])), Some(&strings(&["x.y"]))).await.unwrap();
        let err = store
            .set_user_grants(ada.id, Some(&strings(&["editors", "ghosts"])), Some(&[]))
            .await
            .unwrap_err();
        assert!(matches!(&err, StoreError::UnknownGroup(name) if name == "ghosts"), "{err:?}");
        assert_eq!(
            store.user_grants(ada.id).await.unwrap(),
            Grants { groups: strings(&["editors"]), permissions: strings(&["x.y"]) }
        );
    }

    /// Flags, names and grants change in one transaction: an unknown group leaves the flags
    /// and names as they were too.
    async fn a_users_flags_names_and_grants_change_together_or_not_at_all(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        store.create_group("editors", &[]).await.unwrap();
        let flags = UserFlags { is_staff: Some(true), ..UserFlags::default() };
        let names = UserUpdate { first_name: Some("Augusta".into()), ..UserUpdate::default() };
        let refused = GrantsUpdate {
            groups: Some(strings(&["editors", "ghosts"])),
            permissions: Some(strings(&["x.y"])),
        };
        let err = store.update_user_and_grants(ada.id, &flags, &names, &refused).await.unwrap_err();
        assert!(matches!(&err, StoreError::UnknownGroup(name) if name == "ghosts"), "{err:?}");
        let now = store.user_by_id(ada.id).await.unwrap().unwrap();
        assert_eq!((now.is_staff, now.first_name.as_str()), (false, ada.first_name.as_str()));
        assert_eq!(store.user_grants(ada.id).await.unwrap(), Grants::default());

        let grants = GrantsUpdate { groups: Some(strings(&["editors"])), permissions: None };
        let updated = store.update_user_and_grants(ada.id, &flags, &names, &grants).await.unwrap().unwrap();
        assert_eq!((updated.is_staff, updated.first_name.as_str()), (true, "Augusta"));
        assert_eq!(store.user_grants(ada.id).await.unwrap().groups, strings(&["editors"]));
        let gone = store.update_user_and_grants(ada.id + 100, &flags, &names, &grants).await.unwrap();
        assert_eq!(gone, None);
    }

    /// Adding and removing some of a group's permissions touches those only: two grants
    /// made at once both count, a revoke leaves the rest, and no group holds more than
    /// `MAX_GRANTS` (the grant that would pass it changes nothing).
    async fn group_permissions_are_added_and_removed_row_by_row(db: &TestDatabase) {
        let store = db.store().await;
        let editors = store.create_group("editors", &strings(&["notes.view_note"])).await.unwrap();
        let (first, second) = (strings(&["notes.add_note"]), strings(&["notes.change_note", "notes.view_note"]));
        let (one, two) = tokio::join!(
            store.add_group_permissions(editors.id, &first),
            store.add_group_permissions(editors.id, &second),
        );
        one.unwrap().unwrap();
        two.unwrap().unwrap();
        let held = store.group(editors.id).await.unwrap().unwrap().permissions;
        assert_eq!(held, strings(&["notes.add_note", "notes.change_note", "notes.view_note"]));
        let after = store
            .remove_group_permissions(editors.id, &strings(&["notes.add_note", "notes.gone"]))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(after.permissions, strings(&["notes.change_note", "notes.view_note"]));
        assert_eq!(store.add_group_permissions(editors.id + 100, &[]).await.unwrap(), None);
        assert_eq!(store.remove_group_permissions(editors.id + 100, &[]).await.unwrap(), None);

        let many: Vec<String> = (0..MAX_GRANTS - 2).map(|i| format!("bulk.p{i}")).collect();
        let full = store.add_group_permissions(editors.id, &many).await.unwrap().unwrap();
        assert_eq!(full.permissions.len(), MAX_GRANTS);
        let err = store.add_group_permissions(editors.id, &strings(&["one.more"])).await.unwrap_err();
        assert!(matches!(err, StoreError::TooManyGrants), "{err:?}");
        assert_eq!(store.group(editors.id).await.unwrap().unwrap().permissions.len(), MAX_GRANTS);
    }

    /// Deleting a group removes it from its members and takes its permissions; deleting a
    /// user takes their grants.
    async fn deletes_cascade(db: &TestDatabase) {
        let store = db.store().await;
        let ada = user(&store, "ada@example.com").await;
        let editors = store.create_group("editors", &strings(&["notes.change_note"])).await.unwrap();
        store.set_user_grants(ada.id, Some(&strings(&["editors"])), Some(&strings(&["x.y"]))).await.unwrap();
        assert!(store.delete_group(editors.id).await.unwrap());
        assert!(!store.delete_group(editors.id).await.unwrap());
        assert_eq!(store.user_grants(ada.id).await.unwrap().groups, Vec::<String>::new());
        assert_eq!(store.effective_permissions(ada.id).await.unwrap(), strings(&["x.y"]));
        assert!(store.delete_user(ada.id).await.unwrap());
        assert_eq!(store.user_grants(ada.id).await.unwrap(), Grants::default());
        let again = store.create_group("editors", &[]).await.unwrap();
        assert!(again.permissions.is_empty(), "the old group's permissions went with it");
    }
}
